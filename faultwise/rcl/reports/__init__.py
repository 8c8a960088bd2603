"""What users read: the ranked table on the terminal and the self-contained HTML report, each saying what
the diagnosis covered."""

from faultwise.rcl.reports.coverage import Coverage, describe_coverage
from faultwise.rcl.reports.html import ReportTruth, write_html
from faultwise.rcl.reports.table import print_diagnosis

__all__ = ["Coverage", "ReportTruth", "describe_coverage", "print_diagnosis", "write_html"]
