"""klbuild: Order Journeys, written as TOML files, built into static pages for any CDN."""
