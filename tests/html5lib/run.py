#!/usr/bin/env python3
"""Run the html5lib tokenizer tests against html_tok (through html5lib_driver).

usage: run.py DRIVER TESTDIR [-v]

Every *.test file of TESTDIR (JSON) is read; each test runs once per initial
state, and each run is fed three ways (all at once, one byte at a time, three
bytes at a time), which must all give the expected tokens.  Adjacent
Character tokens are coalesced on both sides, as the html5lib harness does;
parse errors are not compared (html_tok only counts them).  Tests listed in
SKIPPED.md are recognised here by rule and counted as skipped.  Exit status
1 if any test failed or if no test ran.
"""
import json
import os
import re
import subprocess
import sys

STATES = {
    'Data state': 0,
    'RCDATA state': 1,
    'RAWTEXT state': 2,
    'Script data state': 3,
    'PLAINTEXT state': 4,
    'CDATA section state': 5,
}
CHUNKS = (0, 1, 3)


def unescape(x):
    if isinstance(x, str):
        return re.sub(r'\\u([0-9a-fA-F]{4})', lambda m: chr(int(m.group(1), 16)), x)
    if isinstance(x, list):
        return [unescape(v) for v in x]
    if isinstance(x, dict):
        return {unescape(k): unescape(v) for k, v in x.items()}
    return x


def coalesce(tokens):
    out = []
    for tok in tokens:
        if tok[0] == 'Character' and out and out[-1][0] == 'Character':
            out[-1] = ['Character', out[-1][1] + tok[1]]
        else:
            out.append(list(tok))
    return out


def skip_reason(test):
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in test['input']):
        return ('lone surrogate in the input stream: not representable in UTF-8 '
                'input (a UTF-8 decoder yields U+FFFD)')
    return None


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    driver, testdir = sys.argv[1], sys.argv[2]
    verbose = '-v' in sys.argv[3:]
    cases = []  # (file, test, state name, expected tokens)
    skipped = []
    for name in sorted(os.listdir(testdir)):
        if not name.endswith('.test'):
            continue
        with open(os.path.join(testdir, name), encoding='utf-8') as f:
            data = json.load(f)
        # 'xmlViolationTests' (xmlViolation.test) are for a tokenizer that
        # coerces its output to XML; they are not part of the HTML standard.
        for test in data.get('tests', []):
            if test.get('doubleEscaped'):
                test = dict(test, input=unescape(test['input']),
                            output=unescape(test['output']))
            for state in test.get('initialStates', ['Data state']):
                reason = skip_reason(test)
                if reason:
                    skipped.append((name, test['description'], state, reason))
                    continue
                cases.append((name, test, state, coalesce(test['output'])))

    stdin = bytearray()
    for _, test, state, _ in cases:
        data = test['input'].encode('utf-8')
        last = test.get('lastStartTag') or '-'
        for chunk in CHUNKS:
            stdin += b'%d %d %s %d\n' % (STATES[state], chunk, last.encode(), len(data))
            stdin += data
    proc = subprocess.run([driver], input=bytes(stdin), stdout=subprocess.PIPE)
    if proc.returncode != 0:
        sys.exit('html5lib: driver exited with status %d' % proc.returncode)
    runs = proc.stdout.decode('utf-8').split('#end\n')
    if len(runs) != len(cases) * len(CHUNKS) + 1:
        sys.exit('html5lib: driver gave %d results for %d runs'
                 % (len(runs) - 1, len(cases) * len(CHUNKS)))

    passed = failed = 0
    for i, (fname, test, state, expected) in enumerate(cases):
        bad = []
        for j, chunk in enumerate(CHUNKS):
            text = runs[i * len(CHUNKS) + j]
            got = coalesce([json.loads(line) for line in text.splitlines() if line])
            if got != expected:
                bad.append((chunk, got))
        if not bad:
            passed += 1
            continue
        failed += 1
        print('FAIL %s: %s [%s]' % (fname, test['description'], state))
        print('  input:    %s' % json.dumps(test['input']))
        print('  expected: %s' % json.dumps(expected))
        for chunk, got in bad:
            print('  got (chunk %d): %s' % (chunk, json.dumps(got)))
    for fname, desc, state, reason in skipped:
        if verbose:
            print('SKIP %s: %s [%s]: %s' % (fname, desc, state, reason))
    print('html5lib: %d passed, %d skipped, %d failed' % (passed, len(skipped), failed))
    sys.exit(1 if failed or not passed else 0)


if __name__ == '__main__':
    main()
