"""tools/install/install.sh's own logic, run for real against a stand-in interpreter (no network).

The stand-in (``STUB``) plays both the interpreter that creates the venv and the venv's
``bin/python``: ``-m pip`` calls are recorded (argv, working directory, build variables) and
acted out on a fake site directory (an mmcv wheel "installs" a fake ``mmcv``; a wheel whose
content is ``broken`` installs one whose ops do not import); ``-m venv`` makes the venv;
``-c``/stdin code runs in the real interpreter with the fake ``torch``/``mmcv``/``mmdet``
modules first on the path. So every branch of the script (argument handling, cache keys,
wheel selection, the from-source build, offline wheelhouses, relative/absolute ``VENV``)
runs as in a real install, minus the downloads and the 22-minute compile.
"""
import json
import os
import os.path as osp
import stat
import subprocess
import sys

import pytest

from tests.conftest import ROOT

INSTALL = osp.join(ROOT, 'tools', 'install', 'install.sh')
WHEELHOUSE = osp.join(ROOT, 'tools', 'install', 'make_wheelhouse.sh')
KEY = 'mmcv-2.1.0-cp{0}{1}-torch2.14.1-cpu-{2}'.format(*sys.version_info[:2], os.uname().machine)
PYTAG = 'cp{0}{1}'.format(*sys.version_info[:2])

STUB = r'''#!{python}
import json, os, shutil, subprocess, sys, tarfile
state = os.environ['STUB_STATE']
site = os.path.join(state, 'site')
argv = sys.argv[1:]


def log(kind, args):
    reqs = [open(args[i + 1]).read() for i, a in enumerate(args) if a == '-r']
    with open(os.path.join(state, 'calls.jsonl'), 'a') as f:
        f.write(json.dumps(dict(kind=kind, exe=sys.argv[0], args=args, cwd=os.getcwd(), env={{
            k: os.environ.get(k) for k in ('MMCV_WITH_OPS', 'FORCE_CUDA', 'MAX_JOBS')}},
            requirements=''.join(reqs))) + '\n')


def fake_mmcv(content):
    shutil.rmtree(os.path.join(site, 'mmcv'), ignore_errors=True)
    os.makedirs(os.path.join(site, 'mmcv'))
    with open(os.path.join(site, 'mmcv', '__init__.py'), 'w') as f:
        f.write("__version__ = '2.1.0'\n")
    with open(os.path.join(site, 'mmcv', 'ops.py'), 'w') as f:
        f.write("raise ImportError('undefined symbol')\n" if content == 'broken' else
                "def get_compiling_cuda_version(): return 'not available'\n"
                "nms = roi_align = None\n")


def pip(args):
    log('pip', args)
    cmd, rest = args[0], args[1:]
    if cmd == 'install':
        for a in rest:
            if os.path.basename(a).startswith(('mmcv-', 'mmcv_lite-')) and a.endswith('.whl'):
                fake_mmcv(open(a).read().strip())
    elif cmd == 'uninstall' and 'mmcv' in rest:
        shutil.rmtree(os.path.join(site, 'mmcv'), ignore_errors=True)
    elif cmd == 'download' and 'mmcv==2.1.0' in rest:
        # As the real sdist: without MMCV_WITH_OPS=1 its metadata names mmcv-lite.
        assert os.environ.get('MMCV_WITH_OPS') == '1', 'mmcv-lite metadata: no mmcv==2.1.0'
        out = rest[rest.index('-d') + 1]
        os.makedirs(out, exist_ok=True)
        src = os.path.join(state, 'mmcv-2.1.0')
        os.makedirs(src, exist_ok=True)
        with open(os.path.join(src, 'setup.py'), 'w') as f:
            f.write("extra_compile_args = ['-std=c++17']\n")
        with tarfile.open(os.path.join(out, 'mmcv-2.1.0.tar.gz'), 'w:gz') as t:
            t.add(src, arcname='mmcv-2.1.0')
    elif cmd == 'wheel':
        assert "'-std=c++20'" in open('setup.py').read(), 'C++20 patch missing'
        out = rest[rest.index('-w') + 1]
        os.makedirs(out, exist_ok=True)
        name = 'mmcv-2.1.0-{pytag}-{pytag}-linux_x86_64.whl' \
            if os.environ['MMCV_WITH_OPS'] == '1' else 'mmcv_lite-2.1.0-py2.py3-none-any.whl'
        with open(os.path.join(out, name), 'w') as f:
            f.write('fits')
    return 0


def wheel(args):  # python -m wheel unpack -d DIR WHL | pack -d DIR SRC
    log('wheel', args)
    if args[0] == 'unpack':
        d = os.path.join(args[2], 'mmcv-2.1.0')
        os.makedirs(d)
        shutil.copy(args[3], os.path.join(d, 'content'))
    else:
        shutil.copy(os.path.join(args[3], 'content'),
                    os.path.join(args[2], 'mmcv-2.1.0-{pytag}-{pytag}-linux_x86_64.whl'))
    return 0


def venv(args):
    log('venv', args)
    d = args[-1]
    os.makedirs(os.path.join(d, 'bin'))
    shutil.copy(sys.argv[0], os.path.join(d, 'bin', 'python'))
    return 0


if argv[:1] == ['-m']:
    sys.exit(dict(pip=pip, venv=venv, wheel=wheel)[argv[1]](argv[2:]))
env = dict(os.environ, PYTHONPATH=site)
# -P: the script runs python in the repository, whose real locca_mm must not shadow the fake.
sys.exit(subprocess.call([{python!r}, '-P'] + argv, env=env))
'''

FAKE_MODULES = {
    'torch/__init__.py': ("__version__ = '2.14.1+cu130'\n"
                          "class version: cuda = None\n"
                          "class cuda:\n    @staticmethod\n    def is_available(): return False\n"),
    'torchvision/__init__.py': '',
    'locca_mm/__init__.py': '', 'locca_mm/models.py': '', 'locca_mm/datasets.py': '',
    'locca_mm/evaluation.py': '',
    'mmdet/__init__.py': '', 'mmdet/models.py': '',
    'mmpretrain/__init__.py': '', 'mmpretrain/models.py': '',
    'mmseg/__init__.py': '', 'mmseg/models.py': '',
}


@pytest.fixture
def stub(tmp_path):
    """A stand-in interpreter, its state directory and an empty wheel cache."""
    state = tmp_path / 'state'
    for rel, text in FAKE_MODULES.items():
        path = state / 'site' / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    exe = tmp_path / 'bin' / 'python3'
    exe.parent.mkdir()
    exe.write_text(STUB.format(python=sys.executable, pytag=PYTAG))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)

    class Stub:
        python = str(exe)
        cache = tmp_path / 'xdg'
        path = state

        def run(self, *args, cwd, **env):
            full = {k: v for k, v in os.environ.items() if not k.startswith('LOCCA_')}
            # The stand-in venv takes kilobytes: the free-space checks are tested on their own.
            full.update(PYTHON=self.python, XDG_CACHE_HOME=str(self.cache), STUB_STATE=str(state),
                        LOCCA_VENV_GIB='0', LOCCA_BUILD_GIB='0')
            full.update(env)
            return subprocess.run(['bash', INSTALL, *args], cwd=cwd, env=full,
                                  capture_output=True, text=True, timeout=120)

        def calls(self, kind=None):
            f = state / 'calls.jsonl'
            rows = [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []
            return [r for r in rows if kind is None or r['kind'] == kind]

        def pip(self, cmd):
            return [c for c in self.calls('pip') if c['args'][0] == cmd]

        def reset_calls(self):
            (state / 'calls.jsonl').unlink(missing_ok=True)

    return Stub()


def _cached_wheels(stub):
    d = stub.cache / 'locca_mm' / 'wheels' / KEY
    return sorted(os.listdir(d)) if d.is_dir() else []


def test_relative_venv_from_another_directory_builds_and_caches_mmcv(stub, tmp_path):
    """The newcomer's path: no cache, no wheelhouse; VENV relative to the caller's directory."""
    caller = tmp_path / 'elsewhere'
    caller.mkdir()
    proc = stub.run(cwd=caller, VENV='rel/env', MAX_JOBS='3')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    venv = caller / 'rel' / 'env'
    assert (venv / '.locca_mm-install').is_file()
    # Every pip call, the one inside the unpacked sdist included, went through the venv's
    # absolute interpreter path (the relative one broke there).
    exes = {c['exe'] for c in stub.calls('pip')}
    assert exes == {str(venv / 'bin' / 'python')}
    [build] = stub.pip('wheel')
    assert build['env'] == dict(MMCV_WITH_OPS='1', FORCE_CUDA='0', MAX_JOBS='3')
    assert osp.basename(build['cwd']) == 'mmcv-2.1.0'
    assert _cached_wheels(stub) == [f'mmcv-2.1.0-{PYTAG}-{PYTAG}-linux_x86_64.whl']
    assert 'building mmcv 2.1.0 with CPU ops' in proc.stdout
    torch_install = [c for c in stub.pip('install') if 'torch==2.14.1' in c['args']]
    assert len(torch_install) == 1
    assert not any('--no-index' in c['args'] for c in stub.pip('install'))

    # A second run is a no-op; a second venv on this machine reuses the cached wheel.
    stub.reset_calls()
    again = stub.run(cwd=caller, VENV='rel/env')
    assert again.returncode == 0 and 'up to date' in again.stdout
    assert stub.calls() == []
    (stub.path / 'site' / 'mmcv').rename(stub.path / 'mmcv-of-the-first-venv')
    second = stub.run(cwd=caller, VENV='rel/env2')
    assert second.returncode == 0, second.stderr
    assert stub.pip('wheel') == [] and stub.pip('download') == []
    assert f'mmcv from {stub.cache}/locca_mm/wheels/{KEY}/' in second.stdout


def test_absolute_venv_with_spaces(stub, tmp_path):
    venv = tmp_path / 'my envs' / 'locca env'
    proc = stub.run(cwd=ROOT, VENV=str(venv))
    assert proc.returncode == 0, proc.stderr
    assert (venv / '.locca_mm-install').is_file()
    assert {c['exe'] for c in stub.calls('pip')} == {str(venv / 'bin' / 'python')}


def test_wheel_selection_skips_a_cached_wheel_that_does_not_import(stub, tmp_path):
    d = stub.cache / 'locca_mm' / 'wheels' / KEY
    d.mkdir(parents=True)
    (d / f'mmcv-2.1.0-{PYTAG}-{PYTAG}-linux_a.whl').write_text('broken')  # globbed first
    (d / f'mmcv-2.1.0-{PYTAG}-{PYTAG}-linux_b.whl').write_text('fits')
    proc = stub.run(cwd=tmp_path, VENV='v')
    assert proc.returncode == 0, proc.stderr
    assert 'linux_a.whl does not fit this torch/cpu: skipped' in proc.stdout
    assert 'linux_b.whl' in proc.stdout and stub.pip('wheel') == []
    assert len(stub.pip('uninstall')) == 1


def test_offline_wheelhouse_installs_with_no_index(stub, tmp_path):
    house = tmp_path / 'house'
    house.mkdir()
    (house / f'mmcv-2.1.0-{PYTAG}-{PYTAG}-linux_x86_64.whl').write_text('fits')
    (house / 'wheelhouse.json').write_text('{}')
    proc = stub.run(cwd=tmp_path, VENV='v', LOCCA_WHEELHOUSE=str(house))
    assert proc.returncode == 0, proc.stderr
    assert 'installing offline from the wheelhouse' in proc.stdout
    installs = [c['args'] for c in stub.pip('install') if not c['args'][-1].endswith('.whl')]
    assert installs and all('--no-index' in a and str(house) in a for a in installs)
    assert stub.pip('wheel') == []  # mmcv came from the wheelhouse


def test_system_torch_and_mmcv_without_ops(stub, tmp_path):
    proc = stub.run(cwd=tmp_path, VENV='v', LOCCA_TORCH='system', LOCCA_MMCV_OPS='0')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [venv] = stub.calls('venv')
    assert '--system-site-packages' in venv['args']
    assert not any(a.startswith('torch') for c in stub.pip('install') for a in c['args'])
    [build] = stub.pip('wheel')
    assert build['env']['MMCV_WITH_OPS'] == '0'
    assert stub.calls('wheel') == []  # nothing to strip in a pure-Python wheel
    key = KEY.replace('-cpu-', '-noops-')
    assert os.listdir(stub.cache / 'locca_mm' / 'wheels' / key) == [
        'mmcv_lite-2.1.0-py2.py3-none-any.whl']
    # The stack is installed around mmcv-lite: asking for mmcv would build it with ops.
    [stack] = [c for c in stub.pip('install') if 'mmengine==0.10.7' in c['requirements']]
    lines = stack['requirements'].splitlines()
    assert 'mmdet==3.3.0' in lines and not any(line.startswith('mmcv') for line in lines)
    assert 'mmdet/mmseg transfer needs LOCCA_MMCV_OPS=1' in proc.stdout


def test_missing_compiler_fails_before_any_download(stub, tmp_path):
    proc = stub.run(cwd=tmp_path, VENV='v', CXX='/nonexistent/c++')
    assert proc.returncode == 1
    assert "building mmcv's ops needs a C++ compiler" in proc.stderr
    assert stub.calls() == [] and not (tmp_path / 'v').exists()


@pytest.mark.parametrize('args,env,message', [
    (['--bogus'], {}, 'usage:'),
    (['--check', '--force'], {}, 'usage:'),
    ([], {'LOCCA_MMCV_OPS': 'yes'}, 'LOCCA_MMCV_OPS must be 0 or 1'),
])
def test_bad_arguments(stub, tmp_path, args, env, message):
    proc = stub.run(*args, cwd=tmp_path, VENV='v', **env)
    assert proc.returncode == 2 and message in proc.stderr
    assert stub.calls() == []


def test_check_reports_missing_then_ready(stub, tmp_path):
    assert stub.run('--check', cwd=tmp_path, VENV='v').returncode == 1
    assert stub.run(cwd=tmp_path, VENV='v').returncode == 0
    assert stub.run('--check', cwd=tmp_path, VENV='v').returncode == 0


def _tiny_wheel(src, name, requires=()):
    """A pure-Python wheel of a one-module package ``name`` in ``src``."""
    proj = src / f'{name}-project'
    (proj / name).mkdir(parents=True)
    (proj / name / '__init__.py').write_text(f'VALUE = {name!r}\n')
    (proj / 'setup.py').write_text(
        'from setuptools import setup\n'
        f'setup(name={name!r}, version="1.0", packages=[{name!r}], '
        f'install_requires={list(requires)!r})\n')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
                    '--no-build-isolation', '-w', str(src), str(proj)],
                   check=True, capture_output=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize('target', [[], ['--python', '3.12', '--platform',
                                         'manylinux_2_28_x86_64']])
def test_wheelhouse_installs_offline_into_a_fresh_venv(tmp_path, target):
    """tools/install/make_wheelhouse.sh on a small requirement set, from a local index (no network);
    what it writes installs with pip --no-index into a fresh venv."""
    src = tmp_path / 'index'
    src.mkdir()
    _tiny_wheel(src, 'alpha', requires=['beta'])
    _tiny_wheel(src, 'beta')
    _tiny_wheel(src, 'gamma')  # in the index but not asked for
    reqs = tmp_path / 'reqs.txt'
    reqs.write_text('alpha\n')
    house = tmp_path / 'house'
    env = dict(os.environ, PYTHON=sys.executable, PIP_NO_INDEX='1', PIP_FIND_LINKS=str(src))
    proc = subprocess.run(['bash', WHEELHOUSE, str(house), '--requirements', str(reqs), *target],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    manifest = json.loads((house / 'wheelhouse.json').read_text())
    names = sorted(f['name'] for f in manifest['files'])
    assert names == ['alpha-1.0-py3-none-any.whl', 'beta-1.0-py3-none-any.whl']
    assert manifest['complete'] and manifest['python'] == (target[1] if target else
                                                           '{0}.{1}'.format(*sys.version_info))
    venv = tmp_path / 'fresh'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True, timeout=120)
    clean = {k: v for k, v in os.environ.items() if not k.startswith('PIP_')}
    pip = subprocess.run([str(venv / 'bin' / 'python'), '-m', 'pip', 'install', '-q',
                          '--no-index', '--find-links', str(house), 'alpha'],
                         env=clean, capture_output=True, text=True, timeout=120)
    assert pip.returncode == 0, pip.stderr
    out = subprocess.run([str(venv / 'bin' / 'python'), '-c',
                          'import alpha, beta; print(alpha.VALUE, beta.VALUE)'],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ['alpha', 'beta']


def test_wheelhouse_usage_errors(tmp_path):
    script = WHEELHOUSE
    for args, message in (([], 'usage'), ([str(tmp_path), '--mmcv-ops', '2'], '--mmcv-ops'),
                          ([str(tmp_path), '--requirements', 'nope.txt'], 'no file')):
        proc = subprocess.run(['bash', script, *args], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode != 0 and message in proc.stderr, (args, proc.stderr)


def test_too_little_disk_fails_first_naming_the_mount_and_the_knob(stub, tmp_path):
    proc = stub.run(cwd=tmp_path, VENV='new/env', LOCCA_VENV_GIB='1000000')
    assert proc.returncode == 1
    mount = subprocess.run(['df', '-P', str(tmp_path)], capture_output=True,
                           text=True).stdout.splitlines()[1].split()[-1]
    assert f'needs 1000000 GiB free on {mount} ({tmp_path}/new/env)' in proc.stderr
    assert 'LOCCA_VENV_GIB' in proc.stderr
    assert stub.calls('pip') == [] and not (tmp_path / 'new').exists()


def test_build_space_checked_before_the_torch_download(stub, tmp_path):
    proc = stub.run(cwd=tmp_path, VENV='v', LOCCA_BUILD_GIB='1000000', TMPDIR=str(tmp_path))
    assert proc.returncode == 1 and 'building mmcv needs 1000000 GiB' in proc.stderr
    assert stub.calls('pip') == []


@pytest.mark.parametrize('value', ['-1', 'lots', '2.5'])
def test_disk_knobs_must_be_whole_numbers(stub, tmp_path, value):
    proc = stub.run(cwd=tmp_path, VENV='v', LOCCA_VENV_GIB=value)
    assert proc.returncode == 2 and 'LOCCA_VENV_GIB must be a whole number' in proc.stderr
