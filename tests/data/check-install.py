#!/usr/bin/env python3
# Installs the build tree into a temporary DESTDIR and checks that what a
# user gets works: every installed file is there, the binaries that are built
# answer --version, the desktop data validates in place. TAP output.
#
# usage: check-install.py BUILD_DIR

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

BINARIES = ['natter-server', 'natter-cli', 'natter']

n = 0
failed = False


def tap(ok, what, skip=None, detail=None):
    global n, failed
    n += 1
    if skip is not None:
        print('ok %d - %s # SKIP %s' % (n, what, skip))
        return
    print('%s %d - %s' % ('ok' if ok else 'not ok', n, what))
    if detail:
        for line in detail.rstrip().splitlines():
            print('# ' + line)
    if not ok:
        failed = True


def run(argv, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, **kw)


def meson_cmd():
    # Use the meson that configured this build tree.
    exe = shlex.split(os.environ.get('MESONINTROSPECT', ''))
    if exe:
        return exe[:-1] if exe[-1] == 'introspect' else exe
    return [shutil.which('meson') or 'meson']


def main():
    builddir = os.path.abspath(sys.argv[1])
    meson = meson_cmd()

    r = run(meson + ['introspect', '--buildoptions', builddir])
    opts = {o['name']: o['value'] for o in json.loads(r.stdout)} if r.returncode == 0 else {}
    prefix = opts.get('prefix', '/usr/local')
    bindir = os.path.join(prefix, opts.get('bindir', 'bin'))
    datadir = os.path.join(prefix, opts.get('datadir', 'share'))
    libdir = os.path.join(prefix, opts.get('libdir', 'lib'))

    r = run(meson + ['introspect', '--installed', builddir])
    installed = json.loads(r.stdout) if r.returncode == 0 else {}

    with tempfile.TemporaryDirectory(prefix='natter-install-') as destdir:
        def dest(path):
            return destdir + path

        r = run(meson + ['install', '-C', builddir, '--no-rebuild', '--quiet',
                         '--destdir', destdir])
        tap(r.returncode == 0, 'meson install --destdir', detail=r.stdout)
        if r.returncode != 0:
            print('1..%d' % n)
            return 1

        absent = sorted(p for p in installed.values() if not os.path.lexists(dest(p)))
        tap(not absent, 'all %d files listed by meson introspect --installed are installed'
            % len(installed), detail='\n'.join('missing: ' + p for p in absent))

        env = dict(os.environ)
        libdirs = [dest(libdir), dest(os.path.join(prefix, 'lib'))]
        env['LD_LIBRARY_PATH'] = ':'.join(libdirs + [env.get('LD_LIBRARY_PATH', '')])
        env['GSETTINGS_SCHEMA_DIR'] = dest(os.path.join(datadir, 'glib-2.0/schemas'))
        env['XDG_DATA_DIRS'] = dest(datadir) + ':' + env.get('XDG_DATA_DIRS', '/usr/share')

        for name in BINARIES:
            path = os.path.join(bindir, name)
            if path not in installed.values():
                tap(True, '%s --version' % name, skip='%s is not built in this tree' % name)
                continue
            if not os.access(dest(path), os.X_OK):
                tap(False, '%s is installed and executable' % name)
                continue
            try:
                r = run([dest(path), '--version'], env=env, timeout=30)
                ok = r.returncode == 0 and r.stdout.strip() != ''
                tap(ok, '%s --version' % name,
                    detail=r.stdout + ('' if ok else '(exit %d)' % r.returncode))
            except subprocess.TimeoutExpired:
                tap(False, '%s --version' % name, detail='no answer within 30 s')

        schemas = dest(os.path.join(datadir, 'glib-2.0/schemas'))
        r = run(['glib-compile-schemas', '--strict', '--dry-run', schemas])
        tap(r.returncode == 0, 'installed GSettings schema compiles', detail=r.stdout)

        mo = dest(os.path.join(datadir, 'locale/zh_CN/LC_MESSAGES/natter.mo'))
        tap(os.path.isfile(mo), 'zh_CN translation is installed')

        desktops = [p for p in installed.values()
                    if p.startswith(os.path.join(datadir, 'applications/')) and p.endswith('.desktop')]
        if not desktops:
            tap(True, 'desktop file, metainfo and icons', skip='the app is not built in this tree')
        else:
            for desktop in desktops:
                appid = os.path.basename(desktop)[:-len('.desktop')]
                icon = dest(os.path.join(datadir, 'icons/hicolor/scalable/apps', appid + '.svg'))
                sym = dest(os.path.join(datadir, 'icons/hicolor/symbolic/apps', appid + '-symbolic.svg'))
                meta = dest(os.path.join(datadir, 'metainfo', appid + '.metainfo.xml'))
                tap(os.path.isfile(icon) and os.path.isfile(sym),
                    '%s icons installed' % appid)
                tap(os.path.isfile(meta), '%s metainfo installed' % appid)
                keys = {}
                with open(dest(desktop), encoding='utf-8') as f:
                    for line in f:
                        if '=' in line and not line.startswith('#'):
                            k, v = line.rstrip('\n').split('=', 1)
                            keys.setdefault(k, v)
                exe = keys.get('Exec', '').split(' ')[0]
                tap(keys.get('Icon') == appid and
                    os.access(dest(os.path.join(bindir, exe)), os.X_OK),
                    '%s.desktop names the installed icon and binary (Icon=%s, Exec=%s)'
                    % (appid, keys.get('Icon'), exe))
                if shutil.which('desktop-file-validate'):
                    r = run(['desktop-file-validate', dest(desktop)])
                    tap(r.returncode == 0 and not r.stdout.strip(),
                        '%s.desktop validates where it is installed' % appid, detail=r.stdout)

    print('1..%d' % n)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
