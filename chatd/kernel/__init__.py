"""The shared leaf every part of chatd may import: events, errors, interfaces, names, text
safety, rate limiters, records and views. It imports nothing else of chatd."""
