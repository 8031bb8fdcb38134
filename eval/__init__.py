"""The faithfulness eval suite; `rag eval` runs eval.run:main (`rag eval --help`)."""
from rag.cli import Command

COMMAND = Command("run the faithfulness eval suite and write a report (rag eval --help)", "eval.run:main")
