"""The `photoface` command: parse arguments, call photoface.api, print results; errors on one line.

Commands live by topic (library, people, find, measure), shared options in options.py and
the text output of every result in render.py.
"""
from __future__ import annotations

import sys

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="photoface")
def cli():
    """Organize a photo library by the people in it.

    Index a folder of photos: every face is detected (MTCNN), embedded (FaceNet) and stored
    in one SQLite file, with a Dask graph spreading the work over local processes or a cluster.
    """


from . import find, library, measure, people  # noqa: E402,F401  (they add their commands to cli)


def main(argv: list[str] | None = None) -> int:
    """Entry point: every error becomes one line on stderr and a non-zero exit status."""
    from ..errors import PhotofaceError

    try:
        code = cli.main(args=argv, prog_name="photoface", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click.ClickException as exc:
        click.echo(f"photoface: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):  # click turns Ctrl-C into Abort
        click.echo("photoface: interrupted; run the same command again to resume", err=True)
        return 130
    except PhotofaceError as exc:
        click.echo(f"photoface: error: {exc}", err=True)
        return 1
    return code if isinstance(code, int) else 0  # a command's own exit status (click.exceptions.Exit)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
