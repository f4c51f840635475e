"""The window console (窗口控制台): one screen in Chinese for the clerks at a service window.

A small ASGI app (Starlette, served by uvicorn) beside the node's gRPC server. It holds no
logic of its own: every page is one or two calls to the node's WindowService over mutual TLS,
made with the signed-in clerk's own operator certificate, exactly as the `tongban` command line
or a counter system would make them.

Why over gRPC with the clerk's certificate rather than in-process with the node's desks:
- one path for every caller: the same interceptors check the caller's province and role, map
  errors and write the access log, so the console cannot do what the clerk's certificate may not;
- the recorded actor of every step (收件, 打印…) is the clerk who signed in, taken from the
  certificate by the node, not a name the console passes along;
- the console can run, restart or be replaced without touching the node's process or stores.

Sign-in works like a UKey: the clerk's private key is kept encrypted under the clerk's PIN
(`tongban console --enrol`); unlocking it is the sign-in, and the console refuses, in plain
Chinese, any certificate that is not a window clerk's of this node's province.
"""
