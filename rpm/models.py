"""Remote monitoring data. The models arrive with the rpm issue."""
