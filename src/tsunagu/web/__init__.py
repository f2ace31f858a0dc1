"""The web application: assembles every module's routers; layout and static files."""
