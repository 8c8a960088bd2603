"""What users read: the ranked table on the terminal and the self-contained HTML report."""

from faultwise.rcl.reports.html import ReportTruth, write_html
from faultwise.rcl.reports.table import print_diagnosis

__all__ = ["ReportTruth", "print_diagnosis", "write_html"]
