"""The event contract (shared/docs/event-schema.md) as data: one place that names types, fields and rules."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# Event files: the format is chosen by extension (readers also take the .gz forms of JSONL and CSV).
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}

MAX_TEXT = 2000
MAX_EVENT_ID = 128

SOURCES: dict[str, tuple[str, str]] = {
    "feed": ("推荐", "Recommendation feed"),
    "short_video": ("短视频", "Short video"),
    "follow": ("关注", "Following"),
    "search": ("搜索", "Search"),
    "paid": ("付费投放", "Paid"),
    "share": ("分享", "Share"),
    "other": ("其他", "Other"),
}


@dataclass(frozen=True)
class EventType:
    name: str
    zh: str
    required: tuple[str, ...] = ()


EVENT_TYPES: dict[str, EventType] = {
    t.name: t
    for t in [
        EventType("session_start", "开播"),
        EventType("session_end", "下播"),
        EventType("room_impression", "直播间曝光", ("count",)),
        EventType("enter", "进入直播间", ("user_id", "source")),
        EventType("leave", "离开直播间", ("user_id",)),
        EventType("comment", "评论/弹幕", ("user_id", "text")),
        EventType("like", "点赞", ("user_id", "count")),
        EventType("gift", "送礼", ("user_id", "amount")),
        EventType("follow", "关注", ("user_id",)),
        EventType("share", "分享", ("user_id",)),
        EventType("fanclub_join", "加入粉丝团", ("user_id",)),
        EventType("product_impression", "商品曝光", ("user_id", "product_id")),
        EventType("product_click", "商品点击", ("user_id", "product_id")),
        EventType("add_to_cart", "加购", ("user_id", "product_id")),
        EventType("order", "下单", ("user_id", "product_id", "order_id", "amount")),
        EventType("pay", "支付成交", ("user_id", "order_id", "amount")),
        EventType("refund", "退款", ("user_id", "order_id", "amount")),
        EventType("explain_start", "开始讲解商品", ("product_id",)),
        EventType("explain_end", "结束讲解商品", ("product_id",)),
        EventType("transcript", "主播口播", ("text",)),
        EventType("ad_spend", "投放消耗", ("campaign_id", "amount")),
        EventType("online_snapshot", "实时在线人数", ("count",)),
    ]
}

# Fields of an input event, in contract order.
INPUT_FIELDS = (
    "event_id",
    "ts",
    "room_id",
    "session_id",
    "user_id",
    "type",
    "source",
    "product_id",
    "order_id",
    "campaign_id",
    "amount",
    "count",
    "text",
    "variant",
    "attrs",
)
STRING_FIELDS = (
    "event_id",
    "room_id",
    "session_id",
    "user_id",
    "type",
    "source",
    "product_id",
    "order_id",
    "campaign_id",
    "text",
    "variant",
)
ALWAYS_REQUIRED = ("event_id", "ts", "room_id", "session_id", "type")

AMOUNT_TYPE = pa.decimal128(18, 2)

# The stored log: UTC timestamps (ms), exact money, well-known attrs lifted into typed columns.
STORED_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("ts", pa.timestamp("ms")),
        ("room_id", pa.string()),
        ("session_id", pa.string()),
        ("user_id", pa.string()),
        ("type", pa.string()),
        ("source", pa.string()),
        ("product_id", pa.string()),
        ("order_id", pa.string()),
        ("campaign_id", pa.string()),
        ("amount", AMOUNT_TYPE),
        ("count", pa.int64()),
        ("text", pa.string()),
        ("variant", pa.string()),
        ("attrs", pa.string()),
        ("clicks", pa.int64()),
        ("streamer_id", pa.string()),
    ]
)

STORED_DUCKDB_DDL = """
CREATE TABLE IF NOT EXISTS events (
    event_id VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,
    room_id VARCHAR NOT NULL,
    session_id VARCHAR NOT NULL,
    user_id VARCHAR,
    type VARCHAR NOT NULL,
    source VARCHAR,
    product_id VARCHAR,
    order_id VARCHAR,
    campaign_id VARCHAR,
    amount DECIMAL(18, 2),
    count BIGINT,
    text VARCHAR,
    variant VARCHAR,
    attrs VARCHAR,
    clicks BIGINT,
    streamer_id VARCHAR
)
"""
