"""Stage plots_page: the HTML template `dvc plots show` fills (plots.html_template in .dvc/config),
with Vega, Vega-Lite and Vega-Embed inline, so that the plots open without internet."""

from common import log, run

from hwr.core import layout
from hwr.core.files import write_text
from hwr.evaluation.figures import offline_page_template

PAGE = layout.PLOTS_PAGE


def main(params):
    write_text(PAGE, offline_page_template())
    log.info("plots_page: wrote %s (dvc plots show uses it: no CDN)", PAGE)


if __name__ == "__main__":
    run(main)
