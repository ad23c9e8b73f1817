"""Location engine: adverts in, positions, zones and events out; no Home Assistant import."""
