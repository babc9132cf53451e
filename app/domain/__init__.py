"""The chairside domain: the treatment protocol, its gates, steps and aftercare, and the coverage model.

Pure Python and pydantic only. Nothing here imports Textual, asyncio or SQLAlchemy, so the rules
can be tested without a UI or a database (``tests/domain/test_purity.py`` checks it).
"""
