#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""check_sizes.py [--max-file N] [--max-function N] DIR...: sizes a reader can hold.

Reports every C/C++ source or header under the given folders that has more
than N lines (default 600), and every function body longer than N lines
(default 80), counted from the line of its opening brace to the line of its
closing one.  Functions are found by brace matching: a '{' that closes a
parameter list ')' (optionally followed by qualifiers such as const,
noexcept, override, an initializer list, or a trailing return type) at
namespace or class level.  Tables of data (brace initializers after '=')
are not functions.  Exits 1 when anything is over.

--self-test checks the counting on a generated file.
"""
import os
import re
import sys
import tempfile

SOURCE = (".c", ".h", ".cpp", ".hpp", ".cc")


def strip(text):
    """Removes comments, strings and character literals, keeping newlines."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


HEAD = re.compile(r"\)\s*(const|noexcept|override|final|mutable|volatile|&|&&|\s)*"
                  r"(->\s*[\w:<>,\s*&]+)?\s*$")
INIT = re.compile(r"\)\s*:\s*[\w:]+\s*[({]")


def functions(text):
    """Yields (name, first_line, lines) of each function body."""
    code = strip(text)
    depth_stack = []   # for each open brace: True if it opened a function
    in_function = 0
    for m in re.finditer(r"[{}]", code):
        if m.group() == "{":
            before = code[max(0, m.start() - 400):m.start()]
            is_fn = False
            if in_function == 0:
                tail = before.rstrip()
                if HEAD.search(tail) or INIT.search(tail.split(";")[-1].split("}")[-1]):
                    stmt = re.split(r"[;{}]", before)[-1]
                    is_fn = not re.search(r"=\s*$|\b(if|for|while|switch|catch)\s*\(", stmt) \
                        and "(" in stmt
            depth_stack.append((is_fn, m.start(), before))
            if is_fn:
                in_function += 1
        elif depth_stack:
            is_fn, start, before = depth_stack.pop()
            if is_fn:
                in_function -= 1
                stmt = re.split(r"[;{}]", before)[-1]
                name = re.findall(r"([~\w:]+)\s*\(", stmt)
                first = code.count("\n", 0, start) + 1
                last = code.count("\n", 0, m.start()) + 1
                yield (name[0] if name else "?"), first, last - first + 1


def check(dirs, max_file, max_function):
    errors = []
    for d in dirs:
        for root, _, files in os.walk(d):
            for name in sorted(files):
                if not name.endswith(SOURCE):
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    text = f.read()
                n = text.count("\n")
                if n > max_file:
                    errors.append(f"{path}: {n} lines (at most {max_file})")
                for fn, first, lines in functions(text):
                    if lines > max_function:
                        errors.append(f"{path}:{first}: {fn}: {lines} lines "
                                      f"(at most {max_function})")
    return errors


def self_test():
    body = "\n".join(f"    x += {i};" for i in range(85))
    text = ("int short_one(int x) {\n    return x;\n}\n"
            f"int long_one(int x) const {{\n{body}\n    return x;\n}}\n"
            "static const int kTable[] = {\n" + "1,\n" * 100 + "};\n")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "a.cpp"), "w", encoding="utf-8") as f:
            f.write(text)
        errors = check([d], 600, 80)
    if len(errors) != 1 or "long_one: 88 lines" not in errors[0]:
        print(f"self-test: expected one report of long_one (88 lines), got {errors}")
        return 1
    print("self-test: the long function was reported, the table was not")
    return 0


def main():
    args = sys.argv[1:]
    if args == ["--self-test"]:
        return self_test()
    max_file, max_function = 600, 80
    while args and args[0].startswith("--"):
        opt, val = args[0], int(args[1])
        if opt == "--max-file":
            max_file = val
        elif opt == "--max-function":
            max_function = val
        args = args[2:]
    errors = check(args, max_file, max_function)
    for e in errors:
        print(e)
    if errors:
        return 1
    print(f"sizes: no file over {max_file} lines, no function over {max_function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
