"""SQL expressions that parse exported text into typed values, inside DuckDB.

Each builder takes the SQL of a text column and returns the SQL of the typed value,
NULL where the text is empty or cannot be parsed; ingestion compares the two to
quarantine the rows whose non-empty text did not parse. Set-based: no Python per row.

Dates: ISO (with ``T``/space time, fractional seconds, ``Z`` / ``±hh:mm`` zone — the
zone is dropped, the local date and time as written are kept), ``M/D/YYYY`` (or
``D/M/YYYY`` when ``day_first``), ``YYYY/MM/DD``, ``YYYYMMDD``, ``D.M.YYYY``,
``2024年3月5日``, Excel serial numbers (1900 date system). Amounts: currency symbols
and codes (¥ ￥ $ € £ USD EUR CNY RMB GBP 元), thousands separators, parentheses or a
leading/trailing minus for negatives, percentages (``35%`` → 0.35). A number that is
not finite (``1e309``, 400 digits: beyond a double; ``inf``, ``nan``) is NULL, so that
ingestion quarantines it (:func:`not_finite_expr` tells it why).
"""

from __future__ import annotations

from salesdw.db import quote_str

_ISO_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y%m%d",
    "%Y年%m月%d日",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日 %H:%M:%S",
]
_MONTH_FIRST = [
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m-%d-%Y",
]
_DAY_FIRST = [
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d-%m-%Y",
]
_EXCEL_EPOCH = "DATE '1899-12-30'"


def _fmt_list(formats: list[str]) -> str:
    return "[" + ", ".join(quote_str(f) for f in formats) + "]"


def clean_text(col: str) -> str:
    """Trimmed text, NULL when empty (also for non-breaking spaces).

    A fast path returns the text itself when it is ASCII (as many characters as bytes),
    not empty, and neither starts nor ends with a space: then it has no non-breaking
    space, DuckDB's ``trim`` (which removes Unicode space separators, of which ASCII
    has only the space) leaves it as it is, and it is not empty, so the chain would
    give the same text. ``trim`` decodes every character of the text (utf8proc) and
    copies it; the checks are a plain count of the bytes that start a character, and
    two one-byte compares (a third to a half of the chain's cost on the ERP exports).
    Every other text takes the chain (``_clean_text_chain``)."""
    return (
        f"case when strlen({col}) > 0 and length({col}) = strlen({col}) "
        f"and not starts_with({col}, ' ') and not ends_with({col}, ' ') "
        f"then {col} else {_clean_text_chain(col)} end"
    )


def _clean_text_chain(col: str) -> str:
    """clean_text's definition: NBSP to space, trimmed (Unicode space separators), NULL
    when empty."""
    return f"nullif(trim(replace({col}, chr(160), ' ')), '')"


def _text(col: str, clean: bool) -> str:
    """``col`` as clean text: ``clean`` says the caller already passes
    ``clean_text(...)`` of the raw text (computed once per row, used by every builder
    and by the rejection reasons); ``clean_text`` is idempotent, so the builders give
    the same value on the raw text and on its clean text."""
    return col if clean else clean_text(col)


_FAST_DIRECTIVES = {
    "%Y": "\\d{4}",
    "%m": "\\d{1,2}",
    "%d": "\\d{1,2}",
    "%H": "\\d{1,2}",
    "%M": "\\d{2}",
    "%S": "\\d{2}",
}


def _fast_pattern(fmt: str) -> str | None:
    """A regex of the plain texts ``fmt`` reads (digits and separators only), or None."""
    out = ""
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            directive = fmt[i : i + 2]
            if directive not in _FAST_DIRECTIVES:
                return None
            out += _FAST_DIRECTIVES[directive]
            i += 2
        elif fmt[i] in "-/.: T":
            out += "\\" + fmt[i] if fmt[i] == "." else fmt[i]
            i += 1
        else:
            return None
    return out


def timestamp_expr(
    col: str, date_format: str | None = None, day_first: bool = False, *, clean: bool = False
) -> str:
    """SQL TIMESTAMP parsed from the text column ``col`` (``clean``: see :func:`_text`).

    A text in exactly the first format tried (the source's ``date_format``; without
    one, ISO ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM:SS``, ``YYYY-MM-DD HH:MM`` or
    ``YYYY年M月D日``) takes a fast path: one strptime with that one format, the same
    result as the full chain
    (such a text has a 4-digit year and no time zone, and the formats the chain tries
    before that one cannot read it). One format per text: strptime is cheap on a text
    it reads and costly on one it rejects. A CASE, not coalesce: DuckDB's CASE runs
    the full chain on the other rows only.
    """
    full = _timestamp_chain(col, date_format, day_first, clean)
    if date_format:
        fast = _fast_pattern(date_format)
        if fast is None:
            return full
        value = f"try_strptime({col}, {quote_str(date_format)})"
    else:
        fast = _ISO_FAST_PATTERN
        # 年 → YYYY年M月D日; else no ':' → date only; two → seconds; one → minutes
        value = (
            f"case when contains({col}, '年') then try_strptime({col}, '{_ISO_FORMATS[11]}') "
            f"when not contains({col}, ':') then try_strptime({col}, '{_ISO_FORMATS[0]}') "
            f"when {col} like '%:%:%' then try_strptime({col}, '{_ISO_FORMATS[1]}') "
            f"else try_strptime({col}, '{_ISO_FORMATS[2]}') end"
        )
    return (
        f"case when regexp_full_match({col}, '{fast}') and {value} is not null "
        f"then {value} else {full} end"
    )


#: the texts of the first three ISO formats and of YYYY年M月D日 (the fast path of
#: sources without a format)
_ISO_FAST_PATTERN = (
    "\\d{4}-\\d{1,2}-\\d{1,2}( \\d{1,2}:\\d{2}(:\\d{2})?)?|\\d{4}年\\d{1,2}月\\d{1,2}日"
)


def _timestamp_chain(col: str, date_format: str | None, day_first: bool, clean: bool) -> str:
    text = _text(col, clean)
    # drop a time zone (Z, +08:00, +0800, UTC) that follows a time — local time as
    # written; a trailing "-2024" of a date is not a zone
    naive = (
        f"regexp_replace({text}, '(\\d{{1,2}}:\\d{{2}}(:\\d{{2}}(\\.\\d+)?)?)\\s*"
        f"(Z|UTC|GMT|[+-]\\d{{2}}:?\\d{{2}})$', '\\1')"
    )
    if date_format:
        formats = [date_format, *_ISO_FORMATS]
    else:
        formats = [*_ISO_FORMATS, *(_DAY_FIRST if day_first else _MONTH_FIRST)]
    serial = (
        f"case when regexp_full_match({text}, '\\d{{5}}(\\.\\d+)?') "
        f"and try_cast({text} as double) between 1 and 2958465 "
        f"then {_EXCEL_EPOCH} + to_microseconds(cast(round(try_cast({text} as double) "
        f"* 86400000000) as bigint)) end"
    )
    # strptime's %Y takes 1-digit years ("1/2/3"): a date must carry a 4-digit year
    parsed = (
        f"case when regexp_matches({naive}, '\\d{{4}}') "
        f"then try_strptime({naive}, {_fmt_list(formats)}) end"
    )
    return f"coalesce({parsed}, {serial})"


def date_expr(
    col: str, date_format: str | None = None, day_first: bool = False, *, clean: bool = False
) -> str:
    """SQL DATE parsed from the text column ``col``."""
    return f"cast({timestamp_expr(col, date_format, day_first, clean=clean)} as date)"


def number_expr(col: str, *, clean: bool = False) -> str:
    """SQL DOUBLE parsed from an amount / quantity text (see module docstring).

    The shape is checked before the cast: balanced parentheses, thousands separators
    (``,`` or ``'``) only in groups of three, one sign, an optional ``%``.

    The result is always finite: a text whose number is beyond a double (``1e309``, 400
    digits) gives NULL, as ``inf`` and ``nan`` do.

    Two fast paths give the full chain's number where they apply (texts of at most
    :data:`_FAST_MAX_CHARS` characters, which no finite double needs more than):

    - a text of digits, ``.`` and ``-`` only, not ending in ``.``: a glob (much cheaper
      than a regex) and a cast. Where that cast reads such a text (``12.50``, ``-3``,
      ``.5``) the chain reads the same number; the texts the two read differently
      (``5.``, exponents, ``inf``, ``nan``, ``+``, spaces) never take this path, and
      where the cast fails (``1.2.3``, ``5-``) the chain decides;
    - an amount with one leading currency sign and/or thousands commas (``$47,100.00``,
      ``1,191,000``): with the sign and the commas removed it is the text the chain
      casts (two regexes instead of about twenty).

    A CASE, not ``coalesce(fast, chain)``: DuckDB's CASE runs each branch on its own
    rows only; coalesce here computed the chain for every row.
    """
    cast = f"try_cast({col} as double)"
    grouped = f"try_cast(regexp_replace({col}, '[$€£¥￥,]', '', 'g') as double)"
    short = f"strlen({col}) <= {_FAST_MAX_CHARS}"
    return (
        f"case when not {col} glob '*[!0-9.-]*' and not ends_with({col}, '.') "
        f"and {short} and {cast} is not null then {cast} "
        f"when {short} and regexp_full_match({col}, '{_GROUPED_AMOUNT}') then {grouped} "
        f"else {_number_chain(col, clean)} end"
    )


#: the longest text number_expr's fast paths read: a text of at most 300 characters
#: has at most 300 integer digits, below a double's 1.8e308, so its cast is finite;
#: longer texts take the chain, which checks
_FAST_MAX_CHARS = 300


#: an amount with an optional leading currency sign, thousands commas in groups of three
#: or none, and optional decimals (no sign, no spaces): number_expr's second fast path
_GROUPED_AMOUNT = "[$€£¥￥]?(\\d{1,3}(,\\d{3})+|\\d+)(\\.\\d+)?"


def _number_chain(col: str, clean: bool = False) -> str:
    text = _text(col, clean)
    bare = f"regexp_replace({text}, '(USD|EUR|CNY|RMB|GBP|JPY|HKD|[¥￥$€£元\\s]|^\\+)', '', 'g')"
    shape = (
        f"(regexp_full_match({bare}, "
        f"'\\(?-?(\\d{{1,3}}([,'']\\d{{3}})+|\\d+)?(\\.\\d+)?([eE][+-]?\\d+)?%?\\)?-?') "
        f"and regexp_matches({bare}, '\\d') "
        f"and starts_with({bare}, '(') = ends_with({bare}, ')'))"
    )
    stripped = f"regexp_replace({bare}, '[,'']', '', 'g')"
    negative = (
        f"(starts_with({stripped}, '(') or starts_with({stripped}, '-') "
        f"or ends_with({stripped}, '-'))"
    )
    # the signs go, not the minus of an exponent (1e-5)
    digits = f"regexp_replace(regexp_replace({stripped}, '[()%]', '', 'g'), '^-|-$', '', 'g')"
    value = f"try_cast({digits} as double)"
    scaled = f"case when contains({stripped}, '%') then {value} / 100 else {value} end"
    return (
        f"case when {shape} and isfinite({value}) "
        f"then case when {negative} then -({scaled}) else {scaled} end end"
    )


def not_finite_expr(col: str, *, clean: bool = False) -> str:
    """Whether the text reads as a number that is not finite: beyond a double (``1e309``,
    ``-1e400``, 400 digits), ``inf``, ``infinity`` or ``nan`` (with a sign, a currency
    or a percent sign like any amount). :func:`number_expr` gives NULL for them; this
    names the reason."""
    text = _text(col, clean)
    bare = (
        f"regexp_replace(lower({text}), "
        f"'(usd|eur|cny|rmb|gbp|jpy|hkd|[¥￥$€£元%()\\s,'']|^[+-]|-$)', '', 'g')"
    )
    return (
        f"coalesce({bare} in ('inf', 'infinity', 'nan') "
        f"or not isfinite(try_cast({bare} as double)), false)"
    )


#: the currency marks an amount may carry -> the currencies (ISO 4217, and RMB) each
#: stands for: ``$`` for every dollar, ``¥`` for the yuan and the yen, ``元`` for the
#: yuan (and the Hong Kong and Taiwan dollars, written 元 in Chinese)
CURRENCY_MARKS: dict[str, tuple[str, ...]] = {
    "$": ("USD", "AUD", "CAD", "HKD", "NZD", "SGD", "TWD", "MXN"),
    "¥": ("CNY", "RMB", "JPY"),
    "￥": ("CNY", "RMB", "JPY"),
    "元": ("CNY", "RMB", "HKD", "TWD"),
    "€": ("EUR",),
    "£": ("GBP",),
    "USD": ("USD",),
    "EUR": ("EUR",),
    "CNY": ("CNY", "RMB"),
    "RMB": ("CNY", "RMB"),
    "GBP": ("GBP",),
    "JPY": ("JPY",),
    "HKD": ("HKD",),
}


def currency_mark_expr(col: str, *, clean: bool = False) -> str:
    """The first currency mark (:data:`CURRENCY_MARKS`) in an amount text, NULL when it
    has none."""
    codes = "|".join(k for k in CURRENCY_MARKS if len(k) > 1)
    signs = "".join(k for k in CURRENCY_MARKS if len(k) == 1)
    return f"nullif(regexp_extract(upper({_text(col, clean)}), '({codes}|[{signs}])'), '')"


def currency_conflict_expr(col: str, currency: str, *, clean: bool = False) -> str:
    """Whether the amount text ``col`` carries a currency mark that contradicts the
    row's currency ``currency`` (SQL of an upper-case code): ``¥1,000`` on a USD row.
    False without a mark, without a currency, or when they agree (``$`` on USD or HKD).
    Only texts with a character other than digits, ``.``, ``,`` and ``-`` are searched
    for a mark (a glob, much cheaper than the regex)."""
    text = _text(col, clean)
    keys = ", ".join(quote_str(k) for k in CURRENCY_MARKS)
    values = ", ".join(
        "[" + ", ".join(quote_str(c) for c in codes) + "]" for codes in CURRENCY_MARKS.values()
    )
    allowed = f"map([{keys}], [{values}])[{currency_mark_expr(col, clean=clean)}]"
    return (
        f"coalesce({text} glob '*[!0-9.,-]*' "
        f"and not list_contains({allowed}, {currency}), false)"
    )


def probability_expr(col: str, *, clean: bool = False) -> str:
    """A probability in 0..1: ``35%`` and ``35`` both give 0.35, ``0.35`` stays."""
    num = number_expr(col, clean=clean)
    has_pct = f"contains({_text(col, clean)}, '%')"
    return f"case when not {has_pct} and {num} > 1 then {num} / 100 else {num} end"


_TRUE = ("true", "t", "yes", "y", "1", "active", "是", "在职", "有效", "x")
_FALSE = ("false", "f", "no", "n", "0", "inactive", "否", "离职", "无效")


def boolean_expr(col: str, *, clean: bool = False) -> str:
    """SQL BOOLEAN from yes/no, true/false, 1/0, active/inactive, 是/否."""
    text = f"lower({_text(col, clean)})"
    trues = ", ".join(quote_str(v) for v in _TRUE)
    falses = ", ".join(quote_str(v) for v in _FALSE)
    return f"case when {text} in ({trues}) then true when {text} in ({falses}) then false end"


#: Spellings of the canonical enum values, lower-case → canonical.
ENUM_SYNONYMS: dict[str, dict[str, str]] = {
    "status": {
        "completed": "completed",
        "complete": "completed",
        "closed": "completed",
        "paid": "completed",
        "shipped": "completed",
        "delivered": "completed",
        "fulfilled": "completed",
        "invoiced": "completed",
        "open": "completed",
        "已完成": "completed",
        "已发货": "completed",
        "已付款": "completed",
        "cancelled": "cancelled",
        "canceled": "cancelled",
        "void": "cancelled",
        "voided": "cancelled",
        "已取消": "cancelled",
        "取消": "cancelled",
        "returned": "returned",
        "return": "returned",
        "refunded": "returned",
        "已退货": "returned",
        "退货": "returned",
    },
    "type": {
        "new": "new",
        "new business": "new",
        "new customer": "new",
        "newbusiness": "new",
        "新客户": "new",
        "新业务": "new",
        "renewal": "renewal",
        "existing customer - renewal": "renewal",
        "renew": "renewal",
        "续约": "renewal",
        "续费": "renewal",
        "upsell": "upsell",
        "existing customer - upgrade": "upsell",
        "upgrade": "upsell",
        "existing business": "upsell",
        "existingbusiness": "upsell",
        "expansion": "upsell",
        "cross-sell": "upsell",
        "增购": "upsell",
    },
    "grain": {
        "month": "month",
        "monthly": "month",
        "m": "month",
        "月": "month",
        "quarter": "quarter",
        "quarterly": "quarter",
        "q": "quarter",
        "季度": "quarter",
        "year": "year",
        "yearly": "year",
        "annual": "year",
        "y": "year",
        "年": "year",
    },
    "metric": {
        "revenue": "revenue",
        "sales": "revenue",
        "销售额": "revenue",
        "bookings": "bookings",
        "booking": "bookings",
        "new_customers": "new_customers",
        "new customers": "new_customers",
        "deals_won": "deals_won",
        "deals won": "deals_won",
        "won deals": "deals_won",
    },
    "level": {
        "company": "company",
        "total": "company",
        "region": "region",
        "team": "team",
        "rep": "rep",
        "sales rep": "rep",
        "channel": "channel",
        "product_category": "product_category",
        "product category": "product_category",
        "category": "product_category",
    },
}


#: Spellings of the enum values of fields whose name another entity uses for another
#: enum ((entity, field) → lower-case → canonical); they replace ENUM_SYNONYMS[field].
#: A WeChat message (微信) is ``other`` (written chat, neither a call nor an email); a
#: WeChat voice call (微信电话, 微信语音) is a ``call``. Draft invoices count nowhere,
#: like void ones.
ENTITY_ENUM_SYNONYMS: dict[tuple[str, str], dict[str, str]] = {
    ("invoices", "status"): {
        "open": "open",
        "unpaid": "open",
        "outstanding": "open",
        "overdue": "open",
        "partially paid": "open",
        "partially_paid": "open",
        "partial": "open",
        "sent": "open",
        "viewed": "open",
        "created": "open",
        "approved": "open",
        "delivered": "open",
        "issued": "open",
        "未回款": "open",
        "待回款": "open",
        "部分回款": "open",
        "未付款": "open",
        "已开票": "open",
        "逾期": "open",
        "paid": "paid",
        "fully paid": "paid",
        "closed": "paid",
        "settled": "paid",
        "已回款": "paid",
        "已付款": "paid",
        "已结清": "paid",
        "void": "void",
        "voided": "void",
        "cancelled": "void",
        "canceled": "void",
        "draft": "void",
        "作废": "void",
        "已作废": "void",
        "已取消": "void",
        "红冲": "void",
    },
    ("activities", "type"): {
        "call": "call",
        "phone": "call",
        "phone call": "call",
        "log a call": "call",
        "outbound": "call",
        "inbound": "call",
        "missed": "call",
        "电话": "call",
        "电话拜访": "call",
        "打电话": "call",
        "来电": "call",
        "去电": "call",
        "微信电话": "call",
        "微信语音": "call",
        "visit": "visit",
        "site visit": "visit",
        "on-site visit": "visit",
        "field visit": "visit",
        "customer visit": "visit",
        "拜访": "visit",
        "上门拜访": "visit",
        "上门": "visit",
        "外勤": "visit",
        "外勤签到": "visit",
        "面谈": "visit",
        "email": "email",
        "e-mail": "email",
        "mail": "email",
        "list email": "email",
        "邮件": "email",
        "电子邮件": "email",
        "meeting": "meeting",
        "event": "meeting",
        "video call": "meeting",
        "online meeting": "meeting",
        "会议": "meeting",
        "会面": "meeting",
        "视频会议": "meeting",
        "demo": "demo",
        "demonstration": "demo",
        "presentation": "demo",
        "演示": "demo",
        "产品演示": "demo",
        "task": "task",
        "to-do": "task",
        "todo": "task",
        "follow-up": "task",
        "任务": "task",
        "待办": "task",
        "other": "other",
        "微信": "other",
        "wechat": "other",
        "sms": "other",
        "短信": "other",
        "qq": "other",
        "其他": "other",
    },
}


def enum_expr(
    col: str,
    field: str,
    accepted: tuple[str, ...],
    *,
    clean: bool = False,
    entity: str | None = None,
) -> str:
    """The canonical value of an enum text (synonyms mapped), NULL when unknown."""
    synonyms = dict(
        ENTITY_ENUM_SYNONYMS.get((entity or "", field), ENUM_SYNONYMS.get(field, {}))
    )
    synonyms.update({v: v for v in accepted})
    keys = ", ".join(quote_str(k) for k in synonyms)
    values = ", ".join(quote_str(v) for v in synonyms.values())
    return f"map([{keys}], [{values}])[lower({_text(col, clean)})]"


def id_expr(col: str, *, clean: bool = False) -> str:
    """An id as text: trimmed; ``17850.0`` (a number that went through Excel) → ``17850``.

    Only a text with a ``.`` can be such a number: the others skip the regex."""
    text = _text(col, clean)
    return (
        f"case when contains({text}, '.') "
        f"then regexp_replace({text}, '^(\\d+)\\.0+$', '\\1') else {text} end"
    )
