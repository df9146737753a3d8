"""The package as a user installs it: a wheel built from the sources (not an editable install),
installed into a fresh virtual environment, its installed commands run from a folder outside the
repository, so the YAML defaults come from inside the wheel. The new environment borrows the
current one's site-packages for the dependencies (torch, RecBole, ...) through a .pth file; the
source tree is never on its path."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import recbole_losses

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["setup.cfg", "pyproject.toml", "README.md", "LICENSE", "recbole_losses", "properties", "examples"]
KNOWN_WARNING_TEXTS = ["ChainedAssignmentError", "NumPy array is not writable", "GradScaler"]


def run(args, cwd, env, timeout=300):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(bin folder, environment variables, working folder) of a fresh venv holding the built wheel."""
    root = tmp_path_factory.mktemp("packaging")
    source = root / "source"
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(path, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    wheels = root / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
         str(source)], cwd=root, env=env)
    (wheel,) = wheels.glob("recbole_losses-*.whl")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root, env=env)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)],
        cwd=root, env=env)
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                  cwd=root, env=env).stdout.strip()
    borrowed = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    assert not any(Path(p).resolve() == REPO for p in borrowed)
    (Path(purelib) / "borrowed_dependencies.pth").write_text("\n".join(borrowed) + "\n")
    workdir = root / "work"
    workdir.mkdir()
    return venv / "bin", env, workdir


def test_the_wheel_is_what_runs(installed):
    bin_dir, env, workdir = installed
    out = run([str(bin_dir / "python"), "-c", "import recbole_losses, recbole_losses.config as c; "
               "print(recbole_losses.__file__); print(c.properties_dir()); print(recbole_losses.__version__)"],
              cwd=workdir, env=env).stdout.split()
    venv = bin_dir.parent.resolve()
    assert Path(out[0]).resolve().is_relative_to(venv) and Path(out[1]).resolve().is_relative_to(venv)
    assert out[2] == recbole_losses.__version__
    assert (Path(out[0]).parent / "py.typed").is_file()


@pytest.mark.parametrize("command", [["recbole-losses"], ["recbole-losses-prepare"], ["python", "-m", "recbole_losses"],
                                     ["recbole-losses-tune"]])
def test_each_installed_command_answers_help(installed, command):
    bin_dir, env, workdir = installed
    if command == ["recbole-losses-tune"]:
        pytest.importorskip("recbole_losses.tune")
    done = run([str(bin_dir / command[0]), *command[1:], "--help"], cwd=workdir, env=env)
    assert done.stdout.startswith("usage: ")


@pytest.mark.parametrize("command", [["recbole-losses"], ["recbole-losses-prepare"], ["recbole-losses-tune"],
                                     ["python", "-m", "recbole_losses.examples.compare_losses"]])
def test_each_installed_command_answers_version(installed, command):
    bin_dir, env, workdir = installed
    done = run([str(bin_dir / command[0]), *command[1:], "--version"], cwd=workdir, env=env)
    assert re.fullmatch(rf"\S+ {re.escape(recbole_losses.__version__)} \(RecBole 1\.2\.1, torch \S+, Python \S+\)\n",
                        done.stdout), done.stdout


@pytest.mark.parametrize("name", ["compare_losses", "recommend_topk", "plain_pytorch_loop"])
def test_the_examples_ship_with_the_package(installed, name):
    bin_dir, env, workdir = installed
    done = run([str(bin_dir / "python"), "-m", f"recbole_losses.examples.{name}", "--help"], cwd=workdir, env=env)
    assert done.stdout.startswith("usage: ")


def test_installed_command_trains_quietly_from_outside_the_repository(installed):
    bin_dir, env, workdir = installed
    done = run([str(bin_dir / "recbole-losses"), "--model=MF", "--loss=PSL", "--dataset=ml-100k", "--epochs=1",
                "--neg_num=8", "--show_progress=False"], cwd=workdir, env=env)
    lines = done.stdout.strip().splitlines()[-2:]
    assert re.match(r"best valid \(MF, loss=PSL, ml-100k\): \{'recall@10': ", lines[0]), done.stdout[-2000:]
    assert lines[1].startswith("test       (MF, loss=PSL, ml-100k): ")
    for text in KNOWN_WARNING_TEXTS:
        assert text not in done.stderr, text
    assert list((workdir / "saved").glob("MF-*.pth"))


DEVELOPMENT_WORDS = re.compile(r"/w[o]rk/|/t[m]p/|this sess[i]on|earlier sess[i]on|\bissue \d", re.IGNORECASE)


def test_user_documents_hold_no_machine_paths_or_development_words():
    documents = [REPO / "README.md", REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md")),
                 *sorted((REPO / "benchmarks" / "results").glob("*/results.md")), *sorted((REPO / "examples").glob("*"))]
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
             for path in documents if path.is_file()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if DEVELOPMENT_WORDS.search(line)]
    assert not found, "\n".join(found)


def test_results_page_embeds_every_chart_it_names():
    text = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert images, "docs/results.md embeds no chart"
    for link in images:
        assert (REPO / "docs" / link).resolve().is_file(), link
    assert not re.search(r"`[^`]*\.png`", text), "a chart named but not embedded"


def test_version_is_stated_once():
    setup = (REPO / "setup.cfg").read_text(encoding="utf-8")
    assert "version = attr: recbole_losses.__version__" in setup
    assert not re.search(r"^version\s*=\s*\d", setup, re.MULTILINE)
    assert re.fullmatch(r"\d+\.\d+\.\d+", recbole_losses.__version__)
    assert f"## {recbole_losses.__version__}" in (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
