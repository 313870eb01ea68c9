#!/usr/bin/env python3
# Checks the Flatpak manifests: flatpak-builder must parse them, and they must
# keep the sandbox tight. The GNOME runtime is not needed for this.
# Exit 77 (skip) where flatpak-builder is not installed.
#
# usage: check-flatpak.py SOURCE_ROOT

import json
import os
import re
import shutil
import subprocess
import sys

FINISH_ARGS = ['--share=network', '--share=ipc', '--socket=wayland',
               '--socket=fallback-x11', '--device=dri']
MANIFESTS = {
    'io.github.natter.Natter.json': 'default',
    'io.github.natter.Natter.Devel.json': 'development',
}


def main():
    srcroot = sys.argv[1]
    builder = shutil.which('flatpak-builder')
    if builder is None:
        print('flatpak-builder is not installed: skipped')
        return 77

    problems = []
    for name, profile in MANIFESTS.items():
        path = os.path.join(srcroot, 'flatpak', name)
        r = subprocess.run([builder, '--show-manifest', path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        if r.returncode != 0:
            problems.append('%s: flatpak-builder --show-manifest failed:\n%s' % (name, r.stderr))
            continue
        print('%s: flatpak-builder --show-manifest ok' % name)
        m = json.loads(r.stdout)

        app_id = name[:-len('.json')]
        if m.get('app-id', m.get('id')) != app_id:
            problems.append('%s: app-id is not %s' % (name, app_id))
        if m.get('runtime') != 'org.gnome.Platform' or m.get('sdk') != 'org.gnome.Sdk':
            problems.append('%s: runtime must be org.gnome.Platform with org.gnome.Sdk' % name)
        if m.get('command') != 'natter':
            problems.append('%s: command must be natter' % name)
        if m.get('finish-args') != FINISH_ARGS:
            problems.append('%s: finish-args must be exactly %s' % (name, ' '.join(FINISH_ARGS)))

        modules = {mod.get('name'): mod for mod in m.get('modules', []) if isinstance(mod, dict)}
        for mod in modules.values():
            for src in mod.get('sources', []):
                if src.get('type') in ('archive', 'file') and 'url' in src:
                    if not re.fullmatch(r'[0-9a-f]{64}', src.get('sha256', '')):
                        problems.append('%s: %s: %s is not pinned by sha256'
                                        % (name, mod.get('name'), src['url']))
        natter = modules.get('natter')
        if natter is None:
            problems.append('%s: no natter module' % name)
        else:
            if natter.get('buildsystem') != 'meson':
                problems.append('%s: natter must build with meson' % name)
            if '-Dprofile=%s' % profile not in natter.get('config-opts', []):
                problems.append('%s: natter needs -Dprofile=%s' % (name, profile))
            if list(modules)[-1] != 'natter':
                problems.append('%s: natter must be the last module' % name)

    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
