"""aws-cli's shorthand syntax, as the CLI parses it (before the proto gives values their types)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from coordinator.cli.output import kebab, pascal
from coordinator.cli.shorthand import ParamError, parse_shorthand, parse_timestamp, split_list_word


@pytest.mark.parametrize("text, expected", [
    ("A=b", {"A": "b"}),
    ("A=b,C=d", {"A": "b", "C": "d"}),
    ("A=b,c,d", {"A": ["b", "c", "d"]}),
    ("A=b,c,D=e", {"A": ["b", "c"], "D": "e"}),
    ("A=[b,c],D=e", {"A": ["b", "c"], "D": "e"}),
    ("A=[]", {"A": []}),
    ("A={B=c,D=[e,f]},G=h", {"A": {"B": "c", "D": ["e", "f"]}, "G": "h"}),
    ("A=[{B=c},{B=d}]", {"A": [{"B": "c"}, {"B": "d"}]}),
    ("A=", {"A": ""}),
    ("A='b,c',D=\"e=f\"", {"A": "b,c", "D": "e=f"}),
    ("A=b\\,c", {"A": "b,c"}),
    (" A = b , C = d ", {"A": "b", "C": "d"}),
    ("ParameterName=maxmemory-policy,ParameterValue=allkeys-lru",
     {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"}),
    ("Start=2024-05-01T03:00:00Z", {"Start": "2024-05-01T03:00:00Z"}),
])
def test_shorthand_parses_as_aws_cli_does(text, expected):
    assert parse_shorthand(text) == expected


@pytest.mark.parametrize("text", ["A", "=b", "A=[b", "A={B=c", "A='b", "A=b,,"])
def test_malformed_shorthand_says_where(text):
    with pytest.raises(ParamError, match=r"expected .* at position \d+"):
        parse_shorthand(text)


keys = st.from_regex(r"[A-Z][A-Za-z0-9]{0,12}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(st.dictionaries(keys, values, min_size=1, max_size=6))
def test_any_quoted_values_come_back_unchanged(pairs):
    text = ",".join(f"{k}={quote(v)}" for k, v in pairs.items())
    assert parse_shorthand(text) == pairs


@given(st.dictionaries(keys, st.from_regex(r"[a-z0-9][a-z0-9.:-]{0,15}", fullmatch=True),
                       min_size=1, max_size=6))
def test_bare_values_come_back_unchanged(pairs):
    assert parse_shorthand(",".join(f"{k}={v}" for k, v in pairs.items())) == pairs


def test_list_words_split_on_unescaped_commas():
    assert split_list_word("0001,0002") == ["0001", "0002"]
    assert split_list_word("a\\,b,c") == ["a,b", "c"]
    assert split_list_word("0001") == ["0001"]


@pytest.mark.parametrize("text, expected", [
    ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000000Z"),
    ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000000Z"),
    ("2024-05-01", "2024-05-01T00:00:00.000000Z"),
    ("1714557600", "2024-05-01T10:00:00.000000Z"),
])
def test_timestamps_take_iso_8601_or_epoch_seconds(text, expected):
    assert parse_timestamp(text, "--start-time") == expected


@pytest.mark.parametrize("snake, aws", [("cache_cluster_id", "CacheClusterId"), ("az_mode", "AZMode"),
                                        ("cache_node_ids_to_reboot", "CacheNodeIdsToReboot")])
def test_names_are_spelled_as_aws_spells_them(snake, aws):
    assert pascal(snake) == aws


def test_rpc_names_become_verbs_and_fields_become_options():
    assert kebab("DescribeCacheNodeTypes") == "describe-cache-node-types"
    assert kebab("preferred_availability_zones") == "preferred-availability-zones"
