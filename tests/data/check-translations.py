#!/usr/bin/env python3
# Fails when a source file with translatable strings is missing from
# po/POTFILES, or when a language in po/LINGUAS lacks a finished translation
# (missing, empty or fuzzy) for a string that is in the sources right now.
#
# usage: check-translations.py SOURCE_ROOT [BUILD_DIR]
#        check-translations.py --write-potfiles SOURCE_ROOT
#          rewrites po/POTFILES: the files it lists that still exist, plus
#          every scanned file that has translatable strings.

import os
import re
import subprocess
import sys
import tempfile

# The directories whose .c/.h/.ui files are scanned for strings even when
# nobody listed them in POTFILES yet.
SCANNED_DIRS = ['src/app', 'src/cli', 'src/client']
SCANNED_EXTS = ('.c', '.h', '.ui')

# The same arguments meson's i18n.gettext(preset: 'glib') gives xgettext, so
# this test sees exactly the strings `natter-update-po` extracts.
XGETTEXT_ARGS = [
    '--from-code=UTF-8', '--add-comments', '-k_',
    '--keyword=_', '--keyword=N_', '--keyword=C_:1c,2', '--keyword=NC_:1c,2',
    '--keyword=g_dcgettext:2', '--keyword=g_dngettext:2,3',
    '--keyword=g_dpgettext2:2c,3',
    '--flag=N_:1:pass-c-format', '--flag=C_:2:pass-c-format',
    '--flag=NC_:2:pass-c-format', '--flag=g_dngettext:2:pass-c-format',
    '--flag=g_strdup_printf:1:c-format', '--flag=g_string_printf:2:c-format',
    '--flag=g_string_append_printf:2:c-format', '--flag=g_error_new:3:c-format',
    '--flag=g_set_error:4:c-format', '--flag=g_markup_printf_escaped:1:c-format',
    '--flag=g_log:3:c-format', '--flag=g_print:1:c-format',
    '--flag=g_printerr:1:c-format', '--flag=g_printf:1:c-format',
    '--flag=g_fprintf:2:c-format', '--flag=g_sprintf:2:c-format',
    '--flag=g_snprintf:3:c-format',
]


POTFILES_HEADER = '''\
# Files with translatable strings, one per line, relative to the source root.
# tests/data/check-translations.py fails when a file under src/app, src/cli or
# src/client has strings but is missing here; it rewrites this file with
#   python3 tests/data/check-translations.py --write-potfiles .
'''


def read_list(path):
    entries = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith('#'):
                entries.append(line)
    return entries


def parse_po(path):
    """Returns {(msgctxt, msgid): {'refs', 'fuzzy', 'msgstr', 'plural'}} for the
    non-obsolete entries of a .po or .pot file, without the header. Strings
    stay escaped as gettext writes them; both sides come from gettext tools."""
    entries = {}
    keyword_re = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s*"(.*)"$')
    string_re = re.compile(r'^"(.*)"$')
    cur = None

    def new_entry():
        return {'refs': [], 'fuzzy': False, 'msgctxt': None, 'msgid': None,
                'msgid_plural': None, 'msgstr': {}, 'field': None}

    def flush():
        nonlocal cur
        if cur['msgid']:
            entries[(cur['msgctxt'], cur['msgid'])] = {
                'refs': cur['refs'], 'fuzzy': cur['fuzzy'],
                'msgstr': [cur['msgstr'][k] for k in sorted(cur['msgstr'])],
                'plural': cur['msgid_plural'] is not None}
        cur = new_entry()

    cur = new_entry()
    with open(path, encoding='utf-8') as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if line == '':
                flush()
                continue
            if line.startswith('#~'):
                continue
            if line.startswith('#'):
                if cur['msgstr']:
                    flush()
                if line.startswith('#:'):
                    cur['refs'] += line[2:].split()
                elif line.startswith('#,') and 'fuzzy' in line[2:].replace(',', ' ').split():
                    cur['fuzzy'] = True
                continue
            m = keyword_re.match(line)
            if m:
                key = m.group(1)
                if key in ('msgctxt', 'msgid') and cur['msgstr']:
                    flush()
                if key.startswith('msgstr'):
                    idx = int(m.group(2)) if m.group(2) is not None else 0
                    cur['msgstr'][idx] = m.group(3)
                    cur['field'] = idx
                else:
                    cur[key] = m.group(3)
                    cur['field'] = key
                continue
            m = string_re.match(line)
            if m and cur['field'] is not None:
                if isinstance(cur['field'], int):
                    cur['msgstr'][cur['field']] += m.group(1)
                else:
                    cur[cur['field']] += m.group(1)
                continue
            raise SystemExit('%s:%d: cannot parse: %s' % (path, lineno, line))
    flush()
    return entries


def main():
    args = sys.argv[1:]
    write_potfiles = '--write-potfiles' in args
    args = [a for a in args if a != '--write-potfiles']
    if not args:
        print('usage: %s [--write-potfiles] SOURCE_ROOT [BUILD_DIR]' % sys.argv[0],
              file=sys.stderr)
        return 2
    srcroot = os.path.abspath(args[0])
    builddir = args[1] if len(args) > 1 else '<builddir>'
    podir = os.path.join(srcroot, 'po')
    os.chdir(srcroot)

    potfiles = read_list(os.path.join(podir, 'POTFILES'))
    linguas = []
    for entry in read_list(os.path.join(podir, 'LINGUAS')):
        linguas += entry.split()

    problems = 0
    update_cmd = 'meson compile -C %s %s-update-po' % (builddir, 'natter')

    stale = [p for p in potfiles if not os.path.isfile(p)]
    for p in stale:
        print('po/POTFILES lists %s, which does not exist: remove or rename it there.' % p)
        problems += 1

    scanned = []
    for d in SCANNED_DIRS:
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SCANNED_EXTS):
                    scanned.append(os.path.join(dirpath, name))

    inputs = [p for p in potfiles if os.path.isfile(p)]
    inputs += [p for p in scanned if p not in inputs]

    with tempfile.TemporaryDirectory() as tmp:
        pot = os.path.join(tmp, 'current.pot')
        listfile = os.path.join(tmp, 'files')
        with open(listfile, 'w', encoding='utf-8') as f:
            f.write('\n'.join(inputs) + '\n')
        r = subprocess.run(['xgettext', '--package-name=natter', '-f', listfile,
                            '-o', pot, '--force-po'] + XGETTEXT_ARGS,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True)
        if r.stdout.strip():
            print(r.stdout.strip())
        if r.returncode != 0:
            print('xgettext failed on the sources (exit %d): fix the file named above.'
                  % r.returncode)
            return 1
        template = parse_po(pot)

    with_strings = set()
    for entry in template.values():
        for ref in entry['refs']:
            with_strings.add(ref.rsplit(':', 1)[0])

    unlisted = sorted(f for f in with_strings if f not in potfiles)

    if write_potfiles:
        keep = [p for p in potfiles if os.path.isfile(p)]
        with open(os.path.join(podir, 'POTFILES'), 'w', encoding='utf-8') as f:
            f.write(POTFILES_HEADER)
            f.write(''.join(p + '\n' for p in sorted(set(keep) | set(unlisted))))
        print('po/POTFILES: %d files (%d added, %d removed)'
              % (len(set(keep) | set(unlisted)), len(unlisted), len(stale)))
        return 0

    for f in unlisted:
        print('%s has translatable strings but is not listed in po/POTFILES.' % f)
        problems += 1

    print('%d source files, %d with translatable strings, %d strings.'
          % (len(inputs), len(with_strings), len(template)))

    for lang in linguas:
        po_path = os.path.join(podir, lang + '.po')
        if not os.path.isfile(po_path):
            print('po/%s.po is missing (po/LINGUAS lists %s).' % (lang, lang))
            problems += 1
            continue
        translations = parse_po(po_path)
        missing = []
        for key, entry in template.items():
            tr = translations.get(key)
            if tr is None:
                why = 'missing'
            elif tr['fuzzy']:
                why = 'fuzzy'
            elif not tr['msgstr'] or any(s == '' for s in tr['msgstr']):
                why = 'untranslated'
            else:
                continue
            missing.append((why, key, entry))
        for why, (ctxt, msgid), entry in sorted(missing, key=lambda m: m[2]['refs']):
            where = ', '.join(entry['refs'][:3]) or '?'
            label = ('[%s] ' % ctxt) if ctxt else ''
            print('po/%s.po: %s: %s"%s"  (%s)' % (lang, why, label, msgid, where))
        if missing:
            print('po/%s.po: %d of %d strings lack a translation.'
                  % (lang, len(missing), len(template)))
            problems += len(missing)
        else:
            print('po/%s.po: all %d strings translated.' % (lang, len(template)))

    if problems:
        print()
        print('How to fix:')
        print('  1. List every source file with translatable strings in po/POTFILES:')
        print('       python3 tests/data/check-translations.py --write-potfiles .')
        print('  2. Regenerate the template and merge it into the translations:')
        print('       %s' % update_cmd)
        print('  3. Translate every new, empty or "#, fuzzy" entry in po/*.po')
        print('     (po/zh_CN.po: Simplified Chinese), remove the fuzzy flag,')
        print('     and check it: msgfmt --check -o /dev/null po/zh_CN.po')
        print('  4. Re-run: meson test -C %s --suite data' % builddir)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
