#!/usr/bin/env python3
# Starts the app on its own Xvfb, once in zh_CN.UTF-8 and once in C, and
# screenshots the first window of each. It passes when both rendered and the
# zh_CN one differs from the English one (the strings are translated). The
# PNGs stay in the build tree for people to look at.
# Exit 77 (skip) when Xvfb, ImageMagick or localedef is missing.
#
# usage: check-zh-cn-screenshot.py NATTER LOCALE_SHIM BUILD_DIR OUT_DIR

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

# Generous: a loaded CI machine may take a minute to start GTK.
DEADLINE = 90.0


def start_xvfb():
    r, w = os.pipe()
    xvfb = subprocess.Popen(['Xvfb', '-displayfd', str(w), '-screen', '0', '1024x768x24',
                             '-nolisten', 'tcp', '-noreset'],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    # Read up to the newline, and keep our end open: Xvfb dies when it cannot
    # finish writing the display number.
    display = b''
    start = time.monotonic()
    while not display.endswith(b'\n') and time.monotonic() - start < 15:
        ready, _, _ = select.select([r], [], [], 1)
        if ready:
            chunk = os.read(r, 64)
            if not chunk:
                break
            display += chunk
    xvfb.displayfd = r
    display = display.decode().strip()
    if not display:
        os.close(r)
        xvfb.kill()
        xvfb.wait()
        raise SystemExit('Xvfb did not start')
    return xvfb, ':' + display


def measure(png):
    """The number of colours and the pixel signature of a screenshot."""
    r = subprocess.run(['convert', png, '-format', '%k %#', 'info:'], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, universal_newlines=True)
    fields = r.stdout.split()
    if len(fields) != 2:
        return 0, None
    return int(fields[0]), fields[1]


def colours(png):
    r = subprocess.run(['convert', png, '-format', '%k', 'info:'], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, universal_newlines=True)
    try:
        return int(r.stdout.strip())
    except ValueError:
        return 0


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=%s</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def start_bus(tmp):
    """A private session bus without service activation: the app registers
    its name, and nothing else (portals, keyring) gets started on its behalf.
    Returns (process, address); (None, an address nobody listens on) without
    dbus-daemon."""
    nobody = 'unix:path=' + os.path.join(tmp, 'no-bus')
    if shutil.which('dbus-daemon') is None:
        return None, nobody
    config = os.path.join(tmp, 'bus.conf')
    with open(config, 'w') as f:
        f.write(BUS_CONFIG % tmp)
    bus = subprocess.Popen(['dbus-daemon', '--nofork', '--print-address=1',
                            '--config-file=' + config],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           universal_newlines=True)
    ready, _, _ = select.select([bus.stdout], [], [], 10)
    address = bus.stdout.readline().strip() if ready else ''
    if not address:
        bus.kill()
        bus.wait()
        return None, nobody
    return bus, address


def shoot(natter, env, display, out):
    """Runs the app until its window has rendered and stopped changing, then
    keeps the last screenshot in OUT. Returns a message on failure."""
    env = dict(env, DISPLAY=display)
    app = subprocess.Popen([natter], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True)
    shot = out + '.tmp.png'
    previous = None
    start = time.monotonic()
    try:
        while time.monotonic() - start < DEADLINE:
            if app.poll() is not None:
                output = app.stdout.read()
                return 'the app exited with status %d:\n%s' % (app.returncode, output)
            subprocess.run(['import', '-display', display, '-window', 'root', shot],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            n, data = measure(shot)
            if n > 64:
                if data == previous:
                    subprocess.run(['convert', shot, '-trim', '+repage', out])
                    return None
                previous = data
            # the next screenshot is taken once the X server is idle again
            time.sleep(0.5)
        return 'no stable window within %d s' % DEADLINE
    finally:
        app.terminate()
        try:
            app.wait(5)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
        if os.path.exists(shot):
            os.unlink(shot)


def main():
    natter, shim, builddir, outdir = sys.argv[1:5]
    for tool in ('Xvfb', 'import', 'convert', 'compare', 'localedef'):
        if shutil.which(tool) is None:
            print('%s is not installed: skipped' % tool)
            return 77

    with tempfile.TemporaryDirectory(prefix='natter-zh-') as tmp:
        locales = os.path.join(tmp, 'locales')
        os.mkdir(locales)
        r = subprocess.run(['localedef', '-i', 'zh_CN', '-f', 'UTF-8',
                            os.path.join(locales, 'zh_CN.UTF-8')],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        if r.returncode not in (0, 1):  # 1: warnings only
            print('localedef zh_CN.UTF-8 failed: skipped\n' + r.stdout)
            return 77

        home = os.path.join(tmp, 'home')
        runtime = os.path.join(tmp, 'runtime')
        os.mkdir(home)
        os.mkdir(runtime, 0o700)
        # No blinking cursor or animation: two screenshots in a row must match.
        gtk_config = os.path.join(home, '.config', 'gtk-4.0')
        os.makedirs(gtk_config)
        with open(os.path.join(gtk_config, 'settings.ini'), 'w') as f:
            f.write('[Settings]\ngtk-cursor-blink=false\ngtk-enable-animations=false\n')
        base = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'HOME': home,
            'XDG_CONFIG_HOME': os.path.join(home, '.config'),
            'XDG_DATA_HOME': os.path.join(home, '.local/share'),
            'XDG_CACHE_HOME': os.path.join(home, '.cache'),
            'XDG_STATE_HOME': os.path.join(home, '.local/state'),
            'XDG_RUNTIME_DIR': runtime,
            'GDK_BACKEND': 'x11',
            'GSETTINGS_BACKEND': 'memory',
            'GSETTINGS_SCHEMA_DIR': os.path.join(builddir, 'data'),
            'GTK_A11Y': 'none',
            'NO_AT_BRIDGE': '1',
            'GTK_USE_PORTAL': '0',
            'ADW_DISABLE_PORTAL': '1',
            'LD_PRELOAD': os.path.abspath(shim),
            'NATTER_TEST_LOCALEDIR': os.path.join(builddir, 'po'),
            'LOCPATH': locales,
        }
        runs = [
            ('zh_CN', dict(base, LANG='zh_CN.UTF-8', LC_ALL='zh_CN.UTF-8', LANGUAGE='zh_CN')),
            ('C', dict(base, LANG='C.UTF-8', LC_ALL='C.UTF-8')),
        ]
        os.makedirs(outdir, exist_ok=True)
        shots = {}
        for name, env in runs:
            xvfb, display = start_xvfb()
            bus, address = start_bus(tmp)
            try:
                out = os.path.join(outdir, 'natter-%s.png' % name)
                err = shoot(natter, dict(env, DBUS_SESSION_BUS_ADDRESS=address), display, out)
            finally:
                for process in (bus, xvfb):
                    if process is not None:
                        process.terminate()
                        process.wait()
                os.close(xvfb.displayfd)
            if err:
                print('%s: %s' % (name, err))
                return 1
            print('%s: screenshot %s (%d colours)' % (name, out, colours(out)))
            shots[name] = out

        r = subprocess.run(['compare', '-metric', 'AE', shots['zh_CN'], shots['C'], 'null:'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        try:
            differing = int(float(r.stdout.split()[0]))
        except (ValueError, IndexError):
            print('compare failed: ' + r.stdout)
            return 1
        print('pixels that differ between zh_CN and C: %d' % differing)
        if differing < 200:
            print('the zh_CN window looks like the English one: is the app translated?')
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
