"""Packaging of locca_mm: ``pip install -e .`` (``make install`` sets up the whole stack).

As mmdet and mmpretrain do, ``configs/``, ``tools/`` and ``model-index.yml`` are
placed under ``locca_mm/.mim/``: symlinked for an editable install, copied into
a wheel or sdist. That is what ``_base_ = ['locca_mm::locca/...py']`` in a
user's config, ``mim train locca_mm CONFIG`` and ``mim test`` look up.
"""
import os
import os.path as osp
import re
import shutil
import sys

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    with open(osp.join(HERE, 'locca_mm', 'version.py'), encoding='utf-8') as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def parse_requirements(fname: str) -> list:
    """Requirement lines of ``requirements/<fname>``, comments and options dropped."""
    reqs = []
    with open(osp.join(HERE, 'requirements', fname), encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


MIM_FILES = ('configs', 'tools', 'model-index.yml')


def add_mim_extension() -> None:
    """Place :data:`MIM_FILES` under ``locca_mm/.mim``: symlinks for an editable install
    (``develop`` / ``editable_wheel``), copies for a wheel or sdist; nothing otherwise."""
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'copy' if os.name == 'nt' else 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'build_py'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'locca_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(HERE, name), osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


def readme() -> str:
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


add_mim_extension()
setup(
    name='locca_mm',
    version=get_version(),
    description='LocCa (location-aware captioner pretraining) for OpenMMLab',
    long_description=readme(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'tests.*')),
    include_package_data=True,
    python_requires='>=3.10',  # torch 2.14 (the tested pin) needs 3.10
    install_requires=parse_requirements('runtime.txt'),
    extras_require={
        'all': parse_requirements('mminstall.txt') + parse_requirements('optional.txt'),
        'mim': parse_requirements('mminstall.txt'),
        'optional': parse_requirements('optional.txt'),
        'tests': parse_requirements('tests.txt'),
    },
    classifiers=[
        'License :: OSI Approved :: Apache Software License',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Operating System :: POSIX :: Linux',
        'Intended Audience :: Science/Research',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    zip_safe=False,
)
