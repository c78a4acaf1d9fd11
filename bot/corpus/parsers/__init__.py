"""One parser per digest format. Each module has FORMAT, detect(text) and parse(text)."""
