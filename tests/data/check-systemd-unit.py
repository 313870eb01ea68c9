#!/usr/bin/env python3
# Checks the natter-server systemd unit with systemd-analyze: it must verify
# without a single complaint, and its exposure score must stay low.
# Exit 77 (skip) where systemd-analyze is not installed.
#
# usage: check-systemd-unit.py UNIT [SERVER_BINARY]

import os
import re
import shutil
import subprocess
import sys
import tempfile


def main():
    unit = sys.argv[1]
    server = sys.argv[2] if len(sys.argv) > 2 else ''
    analyze = shutil.which('systemd-analyze')
    if analyze is None:
        print('systemd-analyze is not installed: skipped')
        return 77

    with open(unit, encoding='utf-8') as f:
        text = f.read()

    # `verify` wants ExecStart= to exist: point it at the server just built,
    # or at true(1) while there is none.
    if not (server and os.access(server, os.X_OK)):
        server = shutil.which('true')
    text, count = re.subn(r'^ExecStart=\S*/natter-server', 'ExecStart=' + server,
                          text, flags=re.M)
    if count != 1:
        print('%s: expected exactly one ExecStart= running natter-server' % unit)
        return 1

    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, 'natter-server.service')
        with open(copy, 'w', encoding='utf-8') as f:
            f.write(text)

        r = subprocess.run([analyze, 'verify', copy], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        print('systemd-analyze verify: exit %d' % r.returncode)
        if r.stdout.strip():
            print(r.stdout.rstrip())
        if r.returncode != 0 or r.stdout.strip():
            return 1

        # --offline and --threshold arrived in systemd 250; older ones just
        # verify.
        r = subprocess.run([analyze, 'security', '--offline=true', '--no-pager',
                            '--threshold=20', copy], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
        lines = r.stdout.rstrip().splitlines()
        if r.returncode != 0 and any('unrecognized option' in l or 'Unknown' in l for l in lines):
            print('systemd-analyze security --offline is not supported here')
            return 0
        print('\n'.join(lines[-1:]))
        if r.returncode != 0:
            print('\n'.join(l for l in lines if l.startswith('✗')))
            print('exposure above 2.0: harden the unit again')
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
