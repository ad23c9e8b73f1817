"""Location engine: adverts in, positions, zones and events out; no Home Assistant import.

What the integration uses, and all it may use (a test checks it). The lab's baselines, oracles
and simulator also reach the modules behind it: they share the engine's filters, walls and grid
so that a comparison is of methods, not of plumbing.
"""

from .adverts import Advert, AdvertsError, parse_adverts, read_adverts, write_adverts
from .engine import (
    Engine,
    EngineConfig,
    FixModel,
    FixModelFactory,
    Reading,
    RssiFilter,
    reading_sigmas,
)
from .grid import FixRequest, FloorGrid
from .pathloss import distance, expected_rssi, fit_path_loss
from .render import TagMark, render_map
from .site import (
    COORDINATE_RANGE_M,
    DEFAULT_EXPONENT,
    DEFAULT_REF_RSSI_1M,
    DEFAULT_WALL_LOSS_DB,
    EXPONENT_RANGE,
    FLOOR_RANGE,
    HEIGHT_RANGE_M,
    MAX_WALL_LOSS_DB,
    MIN_SURVEY_RECEIVERS,
    MOTION_CLASSES,
    REF_RSSI_RANGE_DBM,
    RSSI_OFFSET_RANGE_DB,
    RSSI_RANGE_DBM,
    MotionClass,
    PathLoss,
    Point,
    Receiver,
    Site,
    SiteError,
    SurveyPoint,
    Tag,
    Zone,
    is_finite_number,
    load_site,
    parse_site,
    polygon_area,
)
from .solver import Fix
from .stream import Estimate, Method, StreamLocator, TagStream

__all__ = [
    "COORDINATE_RANGE_M",
    "DEFAULT_EXPONENT",
    "DEFAULT_REF_RSSI_1M",
    "DEFAULT_WALL_LOSS_DB",
    "EXPONENT_RANGE",
    "FLOOR_RANGE",
    "HEIGHT_RANGE_M",
    "MAX_WALL_LOSS_DB",
    "MIN_SURVEY_RECEIVERS",
    "MOTION_CLASSES",
    "REF_RSSI_RANGE_DBM",
    "RSSI_OFFSET_RANGE_DB",
    "RSSI_RANGE_DBM",
    "Advert",
    "AdvertsError",
    "Engine",
    "EngineConfig",
    "Estimate",
    "Fix",
    "FixModel",
    "FixModelFactory",
    "FixRequest",
    "FloorGrid",
    "Method",
    "MotionClass",
    "PathLoss",
    "Point",
    "Reading",
    "Receiver",
    "RssiFilter",
    "Site",
    "SiteError",
    "StreamLocator",
    "SurveyPoint",
    "Tag",
    "TagMark",
    "TagStream",
    "Zone",
    "distance",
    "expected_rssi",
    "fit_path_loss",
    "is_finite_number",
    "load_site",
    "parse_adverts",
    "parse_site",
    "polygon_area",
    "read_adverts",
    "reading_sigmas",
    "render_map",
    "write_adverts",
]
