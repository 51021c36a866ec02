"""Video visits data. The models arrive with the visits issue."""
