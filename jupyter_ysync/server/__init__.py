"""The room server: a jupyter_server extension hosting collaboration rooms.

Empty on purpose: importing ``jupyter_ysync.server.store`` or ``.room`` must not load tornado
or jupyter_server (the extension app is ``jupyter_ysync.server.app.YSyncApp``).
"""
