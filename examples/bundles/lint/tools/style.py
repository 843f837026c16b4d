"""A small style checker and fixer for Python files.

Usage: style.py check|fix FILE
check prints "FILE:LINE: problem" per problem (exit 0 clean, 1 problems found);
fix rewrites the file and prints what it fixed.
"""
import re
import sys

NONE_CMP = re.compile(r"(==|!=)\s*None\b")


def problems(text):
    out = []
    lines = text.split("\n")
    for i, line in enumerate(lines, 1):
        if line != line.rstrip():
            out.append((i, "trailing whitespace"))
        if line.startswith("\t"):
            out.append((i, "indented with a tab"))
        if NONE_CMP.search(line):
            out.append((i, "comparison to None with == or !="))
    if text and not text.endswith("\n"):
        out.append((len(lines), "no newline at end of file"))
    elif text.endswith("\n\n"):
        out.append((len(lines), "blank lines at end of file"))
    return out


def fix(text):
    lines = []
    for line in text.split("\n"):
        line = line.rstrip()
        stripped = line.lstrip("\t")
        line = "    " * (len(line) - len(stripped)) + stripped
        line = NONE_CMP.sub(lambda m: "is None" if m.group(1) == "==" else "is not None", line)
        lines.append(line)
    return "\n".join(lines).rstrip("\n") + "\n"


def main():
    mode, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = problems(text)
    if mode == "check":
        for line, what in found:
            print(f"{path}:{line}: {what}")
        if not found:
            print(f"{path}: clean")
        return 1 if found else 0
    with open(path, "w", encoding="utf-8") as f:
        f.write(fix(text))
    print(f"fixed {len(found)} problem(s)" if found else "nothing to fix")
    return 0


if __name__ == "__main__":
    sys.exit(main())
