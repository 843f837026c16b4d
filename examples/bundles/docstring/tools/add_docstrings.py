"""Adds a docstring to every function and method of a Python file that has none.

Usage: add_docstrings.py --style google|numpy|sphinx FILE
Prints one line per function documented; exits 0 (even when there was nothing to do).
"""
import argparse
import ast
import sys


def describe(fn):
    words = fn.name.strip("_").replace("_", " ") or fn.name
    return words[0].upper() + words[1:] + "."


def params(fn):
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
    return [n for n in names if n not in ("self", "cls")]


def docstring(fn, style, indent):
    lines = [describe(fn)]
    names = params(fn)
    if names:
        lines.append("")
        if style == "google":
            lines.append("Args:")
            lines += [f"    {n}: the {n.replace('_', ' ')}." for n in names]
        elif style == "numpy":
            lines += ["Parameters", "----------"]
            for n in names:
                lines += [n, f"    The {n.replace('_', ' ')}."]
        else:
            lines += [f":param {n}: the {n.replace('_', ' ')}." for n in names]
    if len(lines) == 1:
        return [f'{indent}"""{lines[0]}"""']
    body = [f'{indent}"""{lines[0]}'] + [(indent + l) if l else "" for l in lines[1:]] + [f'{indent}"""']
    return body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--style", choices=["google", "numpy", "sphinx"], required=True)
    ap.add_argument("file")
    args = ap.parse_args()
    with open(args.file, encoding="utf-8") as f:
        source = f.read()
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    todo = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(node) is None:
            first = node.body[0]
            indent = lines[first.lineno - 1][: first.col_offset]
            todo.append((first.lineno, node, indent))
    for lineno, node, indent in sorted(todo, key=lambda t: t[0], reverse=True):
        doc = [l + "\n" for l in docstring(node, args.style, indent)]
        lines[lineno - 1 : lineno - 1] = doc
    with open(args.file, "w", encoding="utf-8") as f:
        f.write("".join(lines))
    for lineno, node, _ in sorted(todo, key=lambda t: t[0]):
        print(f"documented {node.name} (line {node.lineno})")
    if not todo:
        print("every function already has a docstring")


if __name__ == "__main__":
    sys.exit(main())
