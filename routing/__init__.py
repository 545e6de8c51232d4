"""Routing over real OSM road networks: import, engine, routes, nearest sites, isochrones."""
