"""ClearML's ``clearml.utilities`` names that scripts import (``plotly_reporter.SeriesInfo``)."""
