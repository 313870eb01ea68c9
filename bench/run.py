#!/usr/bin/env python3
"""bench/run.py: run one load scenario against natter-server and against the
reference (the official Node socket.io 4.8 server, bench/reference/) in
turns, A B A B…, and print a table of medians with the ratio Natter/reference.

    python3 bench/run.py [--build-dir build-interop] [--rounds 2] SCENARIO…
    SCENARIO: idle | fanout | rooms | store | store-normal | history | storm | all

Server on CPU 0, natter-load on CPU 1 (taskset), loopback only. Every run
is bounded: natter-load stops by itself (fixed steps, set-up deadline) and
the runner kills what it started. Raw JSON lines of every run are saved in
BUILD/bench-results/.

natter-server signs users in with argon2id (interactive limits), which would
make registering thousands of users take minutes; so the users are created
once in a template data dir (BUILD/bench-data/) by bench/natter-fill through
the server's store, all with one hash of their common password, their tokens
saved, and each run starts natter-server on a fresh copy of that template.
The in-memory reference registers its users in every run (not timed in any
result).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
USERS = 5000          # users in the natter template; every scenario fits in it
PREFIX = 'u'          # user names b<PREFIX>_<i>
PASSWORD = 'bench-password-1'  # natter-load's (PASSWORD in natter-load.c)

# Connections are set up 8 at a time (--connect-concurrency 8) except in the
# storm: natter-server listens with a backlog of 10 (GSocket's default), and
# more parallel handshakes overflow its accept queue (SYN-ACK retransmits,
# resets); the storm scenario is where that is measured.
FANOUT_RATES = '5,10,15,20,25,35,50,70,100,140,200,280,400,560,800,1120,1600'

SCENARIOS = {
    # 10,000 signed-in, joined connections (2 per user, rooms of 50 users),
    # spread over 4 source addresses, held idle for 10 s.
    'idle': dict(args=['--connect-concurrency', '8', '-n', '10000', '-u', '5000', '-k', '50', '--sources', '4',
                       '--hold', '10'], timeout=900),
    # One room of 1,000 members, 100-byte messages, rising rate (steps of
    # about x1.4, 4 s each). Sustained = the highest step with p99 <= 100 ms
    # and 99 % delivered; the run goes on until p99 passes 1 s, so that one
    # stall of a shared machine (a single step just over 100 ms, seen on
    # both servers) does not end it.
    # A third run per round, the machine's floor (bench/natter-fanout-floor):
    # the same steps broadcast over 1,000 raw loopback connections with no
    # protocol or storage, what the kernel alone costs.
    'fanout': dict(args=['--connect-concurrency', '8', '-n', '1000', '-u', '1000', '-k', '1000',
                         '--rates', FANOUT_RATES,
                         '--step-seconds', '4', '--drain-seconds', '5',
                         '--p99-stop-ms', '1000'], timeout=900, floor=True),
    # The same with [store] synchronous=normal: what waiting for the fsync
    # (synchronous=full, the default) costs in latency.
    'fanout-normal': dict(args=['--connect-concurrency', '8', '-n', '1000', '-u', '1000', '-k', '1000',
                                '--rates', FANOUT_RATES,
                                '--step-seconds', '4', '--drain-seconds', '5',
                                '--p99-stop-ms', '1000'], timeout=900, natter_only=True,
                          natter_config='[store]\nsynchronous=normal\n'),
    # 5,000 connections in 1,000 rooms of 5, each member sending 1 message/s
    # (5,000 messages/s in all), 10 s.
    'rooms': dict(args=['--connect-concurrency', '8', '-n', '5000', '-u', '5000', '-k', '5', '--sources', '2',
                        '--rates', '5000', '--step-seconds', '10', '--drain-seconds', '5',
                        '--p99-stop-ms', '1000000'], timeout=900),
    # Store: 100 connections, each alone in its room (one delivery per
    # message: the sender's own copy), rising send rate: how many messages
    # per second are stored (natter-server: SQLite WAL; the reference keeps
    # them in a JS array, so this row shows the price of durability).
    # natter-server runs with [store] synchronous=full (its default: the WAL
    # is fsynced at every commit, an ok ack survives a power cut);
    # store-normal is the same load with synchronous=normal.
    'store': dict(args=['--connect-concurrency', '8', '-n', '100', '-u', '100', '-k', '1',
                        '--rates', '500,1000,2000,4000,8000,16000,32000',
                        '--step-seconds', '4', '--drain-seconds', '5',
                        '--p99-stop-ms', '100'], timeout=600),
    'store-normal': dict(args=['--connect-concurrency', '8', '-n', '100', '-u', '100', '-k', '1',
                               '--rates', '500,1000,2000,4000,8000,16000,32000',
                               '--step-seconds', '4', '--drain-seconds', '5',
                               '--p99-stop-ms', '100'], timeout=600,
                         natter_config='[store]\nsynchronous=normal\n'),
    # History: the newest 50 messages of a room holding 1,000,000 (filled
    # once through natter-server's store by bench/natter-fill), 200 calls one
    # after the other, each timed send → ack. natter-server only: the
    # reference keeps no history.
    'history': dict(args=['--connect-concurrency', '1', '-n', '1', '-u', '1', '-k', '1',
                          '--history', '200'], timeout=600, natter_only=True,
                    template='history'),
    # 5,000 clients connecting at once (signed in beforehand): time until all
    # have joined their rooms.
    'storm': dict(args=['-n', '5000', '-u', '5000', '-k', '5', '--sources', '2',
                        '--storm', '--setup-timeout', '120'], timeout=600),
}

NATTER_CONFIG = """[limits]
max-connections=60000
max-connections-per-address=60000
send-rate=1000000
send-burst=1000000
event-rate=1000000
event-burst=1000000
"""


# Other work on a shared machine must not decide the result. The server and
# natter-load each run in a session of their own (setsid) whose autogroup
# gets nice -15 when we are root (with sched_autogroup, plain nice does not
# reach across sessions); both servers get the same treatment. Contention
# that remains is measured (the server's run-queue wait, from schedstat).
AUTOGROUP_NICE = '-15'


def prioritize(pid):
    """Called once the process runs in its own session (Popen returns after
    the child's setsid and exec), so this touches only its autogroup."""
    try:
        with open(f'/proc/{pid}/autogroup', 'w') as f:
            f.write(AUTOGROUP_NICE)
        with open(f'/proc/{pid}/autogroup') as f:
            log(f'  pid {pid}: {f.read().strip()}')
    except OSError as e:
        log(f'  pid {pid}: no autogroup priority ({e})')


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_healthy(port, proc, deadline_s=30):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f'server exited with {proc.returncode}')
        try:
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/api/v1/health', timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError('server not healthy in time')


class Server:
    def __init__(self, kind, build, workdir):
        self.kind = kind
        self.build = build
        self.workdir = workdir
        self.proc = None

    def start(self, data_template=None, pin=True, extra_config=''):
        self.port = free_port()
        logf = open(os.path.join(self.workdir, f'{self.kind}-{self.port}.log'), 'w')
        if self.kind == 'natter':
            data = os.path.join(self.workdir, f'data-{self.port}')
            if data_template:
                shutil.copytree(data_template, data)
            else:
                os.makedirs(data)
            conf = os.path.join(self.workdir, 'natter-bench.conf')
            with open(conf, 'w') as f:
                f.write(NATTER_CONFIG + extra_config)
            cmd = [os.path.join(self.build, 'src', 'server', 'natter-server'),
                   '--address', '127.0.0.1', '--port', str(self.port),
                   '--data-dir', data, '--config', conf]
        else:
            cmd = ['node', os.path.join(HERE, 'reference', 'server.js'),
                   '--host', '127.0.0.1', '--port', str(self.port)]
        self.proc = subprocess.Popen((['taskset', '-c', '0'] if pin else []) + cmd,
                                     stdout=logf, stderr=logf, start_new_session=pin)
        if pin:
            prioritize(self.proc.pid)
        wait_healthy(self.port, self.proc)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def run_load(build, port, pid, args, timeout, tokens=None, prefix=PREFIX, pin=True):
    cmd = (['taskset', '-c', '1'] if pin else []) + [os.path.join(build, 'bench', 'natter-load'),
           '--port', str(port), '--server-pid', str(pid), '--prefix', prefix] + args
    if tokens:
        cmd += ['--tokens', tokens]
    log('  $ ' + ' '.join(cmd))
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=pin)
    if pin:
        prioritize(p.pid)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    events = [json.loads(line) for line in out.splitlines() if line.startswith('{')]
    if p.returncode != 0:
        log(f'  natter-load exit {p.returncode}: {err.strip()[-500:]}')
    return events, p.returncode


def run_floor(build, spec):
    """bench/natter-fanout-floor over the scenario's steps: its own two
    processes, broadcaster on CPU 0 and receiver on CPU 1, as the servers
    and natter-load are placed."""
    args = spec['args']
    cmd = [os.path.join(build, 'bench', 'natter-fanout-floor'),
           '-n', args[args.index('-n') + 1],
           '--rates', args[args.index('--rates') + 1],
           '--step-seconds', args[args.index('--step-seconds') + 1],
           '--sender-cpu', '0', '--receiver-cpu', '1']
    log('  $ ' + ' '.join(cmd))
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    prioritize(p.pid)
    try:
        out, err = p.communicate(timeout=spec['timeout'])
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    if p.returncode != 0:
        log(f'  natter-fanout-floor exit {p.returncode}: {err.strip()[-500:]}')
    events = [json.loads(line) for line in out.splitlines() if line.startswith('{')]
    for e in events:
        # named as natter-load names the server's figures, for metrics()
        if e['event'] == 'step':
            e['server_cpu_ms_per_1k_deliveries'] = e['sender_cpu_ms_per_1k_deliveries']
            e.setdefault('gen_cpu_pct', -1)
    return events, p.returncode


def natter_template(build, workdir, fresh):
    """Creates USERS users once; returns (template dir, tokens file).

    Through natter-server's store (bench/natter-fill --users), with one
    argon2id hash of their common password for all of them, not one
    registration each: the template takes seconds instead of 8-20 minutes
    of hashing, and what the scenarios measure is unchanged (they sign in
    with the saved tokens)."""
    base = os.path.join(build, 'bench-data')
    tmpl = os.path.join(base, 'natter-template')
    tokens = os.path.join(base, 'natter-tokens.txt')
    if not fresh and os.path.isdir(tmpl) and os.path.isfile(tokens):
        return tmpl, tokens
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(tmpl)
    cmd = [os.path.join(build, 'bench', 'natter-fill'), '--data-dir', tmpl,
           '--users', str(USERS), '--prefix', PREFIX, '--password', PASSWORD,
           '--tokens', tokens]
    log('  $ ' + ' '.join(cmd))
    log('  ' + subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
    return tmpl, tokens


HISTORY_MESSAGES = 1000000


def history_template(build, tmpl):
    """The user template plus HISTORY_MESSAGES messages in user 0's room."""
    out = os.path.join(build, 'bench-data', 'natter-history-template')
    if os.path.isdir(out):
        return out
    shutil.copytree(tmpl, out + '.tmp')
    cmd = [os.path.join(build, 'bench', 'natter-fill'), '--data-dir', out + '.tmp',
           '--room', f'bench-{PREFIX}-0', '--user', f'b{PREFIX}_0', '--count', str(HISTORY_MESSAGES)]
    log('  $ ' + ' '.join(cmd))
    log('  ' + subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip())
    os.rename(out + '.tmp', out)
    return out


def metrics(scenario, events):
    """The figures of one run, by name."""
    by = {}
    for e in events:
        by.setdefault(e['event'], []).append(e)
    m = {}
    conn = by.get('connect', [{}])[0]
    m['joined'] = conn.get('joined')
    m['connect_s'] = conn.get('seconds')
    m['connect_server_cpu_s'] = conn.get('server_cpu_s')
    # CPU time the server's main thread waited for (other load on its core)
    m['runqueue_wait_s'] = sum(e.get('server_runqueue_wait_s') or 0
                               for e in events if e['event'] in ('connect', 'step'))
    if conn.get('first_error'):
        m['first_error'] = conn['first_error']
    if scenario == 'idle':
        hold = by.get('hold', [{}])[0]
        before = conn.get('server_rss_before_kb')
        after = hold.get('server_rss_kb')
        if before and after and conn.get('joined'):
            m['rss_before_mib'] = before / 1024
            m['rss_after_mib'] = after / 1024
            m['kib_per_conn'] = (after - before) / conn['joined']
        m['closed_during_hold'] = hold.get('closed')
        m['idle_cpu_s'] = hold.get('server_cpu_s')
    elif scenario.startswith('fanout'):
        steps = by.get('step', [])
        good = [s for s in steps if 0 <= s['p99_ms'] <= 100 and s['delivered'] >= 0.99 * s['expected']]
        m['steps'] = [(s['rate'], round(s['deliveries_per_s']), s['p50_ms'], s['p99_ms'],
                       round(s['gen_cpu_pct'])) for s in steps]
        if good:
            best = max(good, key=lambda s: s['deliveries_per_s'])
            m['sustained_deliveries_s'] = best['deliveries_per_s']
            m['sustained_rate'] = best['rate']
            # the step whose rate is nearest to half the best one
            half = sorted(steps, key=lambda s: abs(s['rate'] - best['rate'] / 2))[:1]
            if half:
                m['half_load_rate'] = half[0]['rate']
                m['p99_half_load_ms'] = half[0]['p99_ms']
                m['p50_half_load_ms'] = half[0]['p50_ms']
            m['gen_cpu_pct_at_best'] = best['gen_cpu_pct']
            m['runqueue_wait_best_s'] = best.get('server_runqueue_wait_s')
            m['server_cpu_ms_per_1k'] = best['server_cpu_ms_per_1k_deliveries']
    elif scenario == 'rooms':
        s = (by.get('step') or [{}])[0]
        for k in ('deliveries_per_s', 'p50_ms', 'p99_ms', 'server_cpu_ms_per_1k_deliveries',
                  'gen_cpu_pct', 'sent', 'expected', 'delivered'):
            m[k] = s.get(k)
        m['ack_errors'] = s.get('ack_errors')
        m['server_rss_mib'] = (s.get('server_rss_kb') or 0) / 1024
    elif scenario.startswith('store'):
        steps = by.get('step', [])
        m['steps'] = [(s['rate'], round(s['acks_per_s']), s['p50_ms'], s['p99_ms']) for s in steps]
        good = [s for s in steps if 0 <= s['p99_ms'] <= 100 and s['delivered'] >= 0.99 * s['expected']
                and not s['ack_errors']]
        if good:
            best = max(good, key=lambda s: s['acks_per_s'])
            m['stored_per_s'] = best['acks_per_s']
            m['p99_ms_at_best'] = best['p99_ms']
            m['server_cpu_ms_per_1k'] = best['server_cpu_ms_per_1k_deliveries']
    elif scenario == 'history':
        h = (by.get('history') or [{}])[0]
        for k in ('calls', 'messages_per_call', 'p50_ms', 'p99_ms', 'max_ms', 'mean_ms', 'server_cpu_s'):
            m[k] = h.get(k)
    elif scenario == 'storm':
        m['failed'] = conn.get('failed')
        m['server_cpu_s'] = conn.get('server_cpu_s')
    return m


def run_scenario(name, build, rounds, workdir, tmpl, tokens, kinds=('natter', 'reference')):
    spec = SCENARIOS[name]
    results = {'natter': [], 'reference': [], 'floor': []}
    if spec.get('natter_only'):
        kinds = ('natter',)
    elif spec.get('floor'):
        kinds = tuple(kinds) + ('floor',)
    if spec.get('template') == 'history':
        tmpl = history_template(build, tmpl)
    for r in range(rounds):
        for kind in kinds:
            log(f'[{name}] round {r + 1}/{rounds}: {kind}')
            if kind == 'floor':
                events, rc = run_floor(build, spec)
                m = metrics(name, events)
                m['exit'] = rc
                log('  ' + json.dumps(m))
                results[kind].append({'events': events, 'metrics': m})
                continue
            srv = Server(kind, build, workdir)
            try:
                srv.start(data_template=tmpl if kind == 'natter' else None,
                          extra_config=spec.get('natter_config', ''))
                events, rc = run_load(build, srv.port, srv.proc.pid, spec['args'], spec['timeout'],
                                      tokens=tokens if kind == 'natter' else None)
                alive = srv.proc.poll() is None
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                log(f'  failed: {e}')
                events, rc, alive = [], -1, srv.proc is not None and srv.proc.poll() is None
            finally:
                srv.stop()
                for d in os.listdir(workdir):
                    if d.startswith('data-'):
                        shutil.rmtree(os.path.join(workdir, d), ignore_errors=True)
            m = metrics(name, events)
            m['exit'] = rc
            m['server_survived'] = alive
            log('  ' + json.dumps(m))
            results[kind].append({'events': events, 'metrics': m})
    return results


TABLE_ROWS = {
    'idle': [('joined', 'connections joined', '{:.0f}'),
             ('kib_per_conn', 'server RSS per connection (KiB)', '{:.1f}'),
             ('rss_after_mib', 'server RSS with all connections (MiB)', '{:.1f}'),
             ('connect_s', 'time to connect+join all (s)', '{:.2f}'),
             ('connect_server_cpu_s', 'server CPU to connect+join all (s)', '{:.2f}')],
    'fanout': [('sustained_deliveries_s', 'sustained deliveries/s (p99 ≤ 100 ms)', '{:.0f}'),
               ('p99_half_load_ms', 'p99 latency at half that load (ms)', '{:.2f}'),
               ('p50_half_load_ms', 'p50 latency at half that load (ms)', '{:.2f}'),
               ('server_cpu_ms_per_1k', 'server CPU per 1,000 deliveries at best (ms)', '{:.2f}'),
               ('gen_cpu_pct_at_best', 'natter-load CPU at best step (%)', '{:.0f}'),
               ('runqueue_wait_best_s', 'server waiting for its CPU at best step (s of 4)', '{:.2f}')],
    'fanout-normal': [('sustained_deliveries_s', 'sustained deliveries/s (p99 ≤ 100 ms)', '{:.0f}'),
                      ('p99_half_load_ms', 'p99 latency at half that load (ms)', '{:.2f}'),
                      ('p50_half_load_ms', 'p50 latency at half that load (ms)', '{:.2f}'),
                      ('server_cpu_ms_per_1k', 'server CPU per 1,000 deliveries at best (ms)', '{:.2f}')],
    'rooms': [('deliveries_per_s', 'deliveries/s (25,000 offered)', '{:.0f}'),
              ('server_cpu_ms_per_1k_deliveries', 'server CPU per 1,000 deliveries (ms)', '{:.2f}'),
              ('p50_ms', 'p50 latency (ms)', '{:.2f}'),
              ('p99_ms', 'p99 latency (ms)', '{:.2f}'),
              ('server_rss_mib', 'server RSS (MiB)', '{:.1f}'),
              ('gen_cpu_pct', 'natter-load CPU (%)', '{:.0f}')],
    'store': [('stored_per_s', 'messages stored and acked per second (p99 ≤ 100 ms)', '{:.0f}'),
              ('p99_ms_at_best', 'p99 send→delivery at that rate (ms)', '{:.2f}'),
              ('server_cpu_ms_per_1k', 'server CPU per 1,000 messages (ms)', '{:.2f}')],
    'store-normal': [('stored_per_s', 'messages stored and acked per second (p99 ≤ 100 ms)', '{:.0f}'),
                     ('p99_ms_at_best', 'p99 send→delivery at that rate (ms)', '{:.2f}'),
                     ('server_cpu_ms_per_1k', 'server CPU per 1,000 messages (ms)', '{:.2f}')],
    'history': [('p50_ms', 'history, newest 50 of 1,000,000: p50 (ms)', '{:.2f}'),
                ('p99_ms', 'p99 (ms)', '{:.2f}'),
                ('max_ms', 'max (ms)', '{:.2f}'),
                ('messages_per_call', 'messages per answer', '{:.0f}'),
                ('calls', 'calls timed', '{:.0f}')],
    'storm': [('connect_s', '5,000 clients: time until all joined (s)', '{:.2f}'),
              ('joined', 'joined', '{:.0f}'),
              ('failed', 'failed', '{:.0f}'),
              ('server_cpu_s', 'server CPU during the storm (s)', '{:.2f}')],
}


def median_of(runs, key):
    vals = [r['metrics'].get(key) for r in runs]
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def table(name, results):
    lines = [f'### {name}', '',
             '| metric | natter-server | reference (socket.io 4.8) | Natter/reference |',
             '|---|---:|---:|---:|']
    for key, label, fmt in TABLE_ROWS[name]:
        a = median_of(results['natter'], key)
        b = median_of(results['reference'], key)
        fa = fmt.format(a) if a is not None else '—'
        fb = fmt.format(b) if b is not None else '—'
        ratio = f'{a / b:.2f}' if a is not None and b else '—'
        lines.append(f'| {label} | {fa} | {fb} | {ratio} |')
    n = len(results['natter'])
    lines.append('')
    lines.append(f'Medians of {n} alternating runs each.')
    if results.get('floor'):
        lines += ['', floor_table(results)]
    return '\n'.join(lines)


def step_medians(runs):
    """rate → (median p50, median p99) over the runs' steps at that rate."""
    by_rate = {}
    for r in runs:
        for rate, _, p50, p99, _ in r['metrics'].get('steps', []):
            by_rate.setdefault(rate, []).append((p50, p99))
    return {rate: (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals))
            for rate, vals in by_rate.items()}


def floor_table(results):
    """Latency per step beside the machine's floor (no server at all)."""
    cols = [(k, step_medians(results[k])) for k in ('natter', 'reference', 'floor')]
    rates = sorted({rate for _, m in cols for rate in m})
    lines = ['| messages/s | natter-server p50 / p99 (ms) | reference p50 / p99 (ms) | '
             'machine floor p50 / p99 (ms) |',
             '|---:|---:|---:|---:|']
    for rate in rates:
        cells = []
        for _, m in cols:
            v = m.get(rate)
            cells.append(f'{v[0]:.1f} / {v[1]:.1f}' if v and v[1] >= 0 else '—')
        lines.append(f'| {rate:g} | ' + ' | '.join(cells) + ' |')
    floor_cpu = median_of(results['floor'], 'server_cpu_ms_per_1k')
    lines += ['', 'Machine floor: bench/natter-fanout-floor, the same steps over 1,000 raw '
              'loopback connections, no protocol and no storage; its broadcaster used '
              f'{floor_cpu:.2f} ms of CPU per 1,000 deliveries at its best step.'
              if floor_cpu is not None else 'Machine floor: no result.']
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('scenarios', nargs='+', choices=list(SCENARIOS) + ['all', 'prepare'])
    ap.add_argument('--build-dir', default=os.path.join(SOURCE, 'build'))
    ap.add_argument('--rounds', type=int, default=2)
    ap.add_argument('--fresh', action='store_true', help='make the natter template again')
    ap.add_argument('--natter-only', action='store_true',
                    help='run natter-server only (quick before/after checks; no ratio)')
    opts = ap.parse_args()
    build = os.path.abspath(opts.build_dir)
    for exe in (os.path.join(build, 'bench', 'natter-load'),
                os.path.join(build, 'bench', 'natter-fanout-floor'),
                os.path.join(build, 'src', 'server', 'natter-server')):
        if not os.path.exists(exe):
            sys.exit(f'run.py: {exe} is missing; build first (meson compile -C {build})')
    if not os.path.isdir(os.path.join(SOURCE, 'tests', 'interop', 'node_modules')):
        sys.exit('run.py: run "npm ci" in tests/interop first (the reference needs socket.io)')
    names = list(SCENARIOS) if 'all' in opts.scenarios else [n for n in opts.scenarios if n != 'prepare']
    outdir = os.path.join(build, 'bench-results')
    os.makedirs(outdir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix='natter-bench-')
    stamp = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())
    tables = []
    try:
        tmpl, tokens = natter_template(build, workdir, opts.fresh)
        for name in names:
            results = run_scenario(name, build, opts.rounds, workdir, tmpl, tokens,
                                   ('natter',) if opts.natter_only else ('natter', 'reference'))
            with open(os.path.join(outdir, f'{stamp}-{name}.json'), 'w') as f:
                json.dump(results, f, indent=1)
            t = table(name, results)
            tables.append(t)
            print(t + '\n', flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f'raw results: {outdir}/{stamp}-*.json')


if __name__ == '__main__':
    main()
