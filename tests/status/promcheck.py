#!/usr/bin/env python3
"""promcheck.py - validate Prometheus text exposition (format 0.0.4).

    promcheck.py FILE [--require NAME[{LABELS}]=VALUE ...]

Checks: every sample's metric has # HELP and # TYPE before its first
sample (TYPE one of counter gauge untyped summary histogram), at most one
HELP/TYPE per name, names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
[a-zA-Z_][a-zA-Z0-9_]* with quoted values using only the \\\\ \\" \\n
escapes, no duplicate label names, no duplicate series, values are floats
(or NaN, +Inf, -Inf), counters are >= 0 and end in _total, the file ends
with a newline.  --require checks that a series exists with that value.
Exit 0 when valid, 1 with one line per problem.
"""
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*')
TYPES = {'counter', 'gauge', 'untyped', 'summary', 'histogram'}


def parse_labels(s, i, errs, ln):
    labels = []
    while True:
        if i < len(s) and s[i] == '}':
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            errs.append(f'{ln}: bad label name at column {i + 1}')
            return None, i
        name = m.group(0)
        i = m.end()
        if s[i:i + 2] != '="':
            errs.append(f'{ln}: expected =" after label {name}')
            return None, i
        i += 2
        val = []
        while i < len(s) and s[i] != '"':
            if s[i] == '\\':
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    errs.append(f'{ln}: bad escape in label {name}')
                    return None, i
                val.append(s[i:i + 2])
                i += 2
            elif s[i] == '\n':
                errs.append(f'{ln}: newline in label {name}')
                return None, i
            else:
                val.append(s[i])
                i += 1
        if i >= len(s):
            errs.append(f'{ln}: unterminated label value {name}')
            return None, i
        i += 1
        labels.append((name, ''.join(val)))
        if i < len(s) and s[i] == ',':
            i += 1


def check(text):
    errs = []
    helps, types, series = {}, {}, {}
    if text and not text.endswith('\n'):
        errs.append('the file does not end with a newline')
    for n, line in enumerate(text.split('\n')[:-1] if text.endswith('\n') else text.split('\n'), 1):
        if line == '':
            continue
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) >= 3 and parts[1] in ('HELP', 'TYPE'):
                name = parts[2]
                if not NAME.fullmatch(name):
                    errs.append(f'{n}: bad metric name {name!r}')
                d = helps if parts[1] == 'HELP' else types
                if name in d:
                    errs.append(f'{n}: second {parts[1]} for {name}')
                if name in series:
                    errs.append(f'{n}: {parts[1]} for {name} after its samples')
                if parts[1] == 'TYPE':
                    if len(parts) != 4 or parts[3] not in TYPES:
                        errs.append(f'{n}: bad TYPE line')
                        continue
                    d[name] = parts[3]
                else:
                    if len(parts) != 4 or not parts[3].strip():
                        errs.append(f'{n}: empty HELP for {name}')
                    d[name] = parts[3] if len(parts) == 4 else ''
            continue
        m = NAME.match(line)
        if not m:
            errs.append(f'{n}: bad sample line {line!r}')
            continue
        name = m.group(0)
        i = m.end()
        labels = []
        if i < len(line) and line[i] == '{':
            labels, i = parse_labels(line, i + 1, errs, n)
            if labels is None:
                continue
        names = [k for k, _ in labels]
        if len(set(names)) != len(names):
            errs.append(f'{n}: duplicate label names')
        rest = line[i:]
        if not rest.startswith(' '):
            errs.append(f'{n}: no blank before the value')
            continue
        fields = rest.split()
        if len(fields) not in (1, 2):
            errs.append(f'{n}: expected VALUE [TIMESTAMP]')
            continue
        try:
            value = float(fields[0])
        except ValueError:
            errs.append(f'{n}: value {fields[0]!r} is not a number')
            continue
        if fields[0].lower() in ('nan', 'inf', '+inf', '-inf') and fields[0] not in ('NaN', '+Inf', '-Inf'):
            errs.append(f'{n}: value spelt {fields[0]!r}')
        if len(fields) == 2 and not re.fullmatch(r'-?[0-9]+', fields[1]):
            errs.append(f'{n}: bad timestamp')
        if name not in helps or name not in types:
            errs.append(f'{n}: {name} has no HELP/TYPE before its first sample')
        if types.get(name) == 'counter':
            if value < 0:
                errs.append(f'{n}: counter {name} is negative')
            if not name.endswith('_total'):
                errs.append(f'{n}: counter {name} does not end in _total')
        key = (name, tuple(sorted(labels)))
        if key in series:
            errs.append(f'{n}: duplicate series {name}{dict(labels)}')
        series[key] = value
    return errs, series


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], 'rb') as f:
        raw = f.read()
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        print('not UTF-8')
        return 1
    errs, series = check(text)
    args = sys.argv[2:]
    while args:
        if args[0] != '--require' or len(args) < 2:
            print(__doc__, file=sys.stderr)
            return 2
        want = args[1]
        args = args[2:]
        spec, _, val = want.rpartition('=')
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?', spec)
        if not m:
            errs.append(f'bad --require {want!r}')
            continue
        labels = []
        if m.group(3):
            labels, _ = parse_labels(m.group(3) + '}', 0, errs, 'require')
            labels = labels or []
        key = (m.group(1), tuple(sorted(labels)))
        if key not in series:
            errs.append(f'missing series {spec}')
        elif series[key] != float(val):
            errs.append(f'{spec} is {series[key]:g}, expected {val}')
    if not series and not errs:
        errs.append('no samples')
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == '__main__':
    sys.exit(main())
