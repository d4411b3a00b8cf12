"""Count the words of a file and write the total to summary.txt in the working directory."""
import sys
from pathlib import Path


def main(argv):
    target = Path(argv[1]) if len(argv) > 1 else Path("SKILL.md")
    if not target.exists():
        target = Path(__file__).resolve().parent.parent / "SKILL.md"
    words = len(target.read_text(encoding="utf-8").split())
    Path("summary.txt").write_text(f"{target.name}: {words} words\n", encoding="utf-8")
    print(f"{target.name}: {words} words")


if __name__ == "__main__":
    main(sys.argv)
