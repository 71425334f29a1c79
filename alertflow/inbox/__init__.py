"""The in-app inbox: its items (read, marked, archived) and the WebSocket hub that pushes them live."""
