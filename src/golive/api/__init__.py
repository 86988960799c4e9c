"""HTTP assembly: the app, its error mapping and middleware. Concepts bring their own routers."""
