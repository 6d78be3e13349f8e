"""CloudWatch metrics: PutMetricData, GetMetricStatistics, GetMetricData, ListMetrics.

The protocol is the one boto3 picks from botocore's ``monitoring`` model: ``json`` 1.0 with
``X-Amz-Target: GraniteServiceVersion20100801.<Operation>`` (the model lists smithy-rpc-v2-cbor,
json and query; botocore prefers json), query-compatible, so errors also carry their query-era
code (``InvalidParameterValue``) in ``x-amzn-query-error``. Limits and wording follow the CloudWatch
API reference: periods of 1, 5, 10, 30 or a multiple of 60 seconds, at most 1,440 datapoints per
GetMetricStatistics, 500 metrics per ListMetrics page, namespaces beginning ``AWS/`` reserved.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from typing import Any

from lamina.aws.jsonproto import JsonProtocol
from lamina.aws.protocol import RequestContext
from lamina.clock import Clock
from lamina.errors import InvalidParameterValueException, MissingRequiredParameterException
from lamina.observability.cwmetrics import Dimensions, Stats, dimensions
from lamina.observability.errors import InvalidNextToken, InvalidParameterCombinationException
from lamina.observability.telemetry import Telemetry

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
MAX_DATAPOINTS = 1440
LIST_PAGE = 500
_UTC = datetime.UTC


def cloudwatch_protocol() -> JsonProtocol:
    return JsonProtocol("cloudwatch")


def _seconds(moment: datetime.datetime) -> float:
    return moment.timestamp()


def _dims(items: list[dict[str, str]] | None) -> Dimensions:
    return dimensions((item["Name"], item["Value"]) for item in items or ())


def _check_period(period: int) -> None:
    if period < 60 and period not in (1, 5, 10, 30):
        raise InvalidParameterValueException("The parameter Period must be 1, 5, 10, 30 or a multiple of 60.")
    if period >= 60 and period % 60:
        raise InvalidParameterValueException("The parameter Period must be a multiple of 60.")


def _value(stats: Stats, statistic: str) -> float | None:
    if statistic in STATISTICS:
        return stats.statistic(statistic)
    if statistic.startswith("p"):
        try:
            rank = float(statistic[1:])
        except ValueError:
            rank = -1.0
        if not 0 <= rank <= 100:
            raise InvalidParameterValueException(f"The value {statistic} for parameter Stat is not supported.")
        return stats.statistic(statistic)
    raise InvalidParameterValueException(f"The value {statistic} for parameter Stat is not supported.")


class CloudWatchProvider:
    service_name = "cloudwatch"

    def __init__(self, telemetry: Telemetry, clock: Clock) -> None:
        self._telemetry = telemetry
        self._metrics = telemetry.metrics
        self._clock = clock

    async def put_metric_data(self, ctx: RequestContext, params: dict[str, Any]) -> None:
        namespace: str = params["Namespace"]
        if namespace.startswith("AWS/"):
            raise InvalidParameterValueException(f"The value {namespace} for parameter Namespace is invalid.")
        now = self._clock.time()
        data = params.get("MetricData") or []
        for index, datum in enumerate(data, 1):
            self._check_datum(datum, index, now)
        for datum in data:
            moment = _seconds(datum["Timestamp"]) if datum.get("Timestamp") else now
            statistic = datum.get("StatisticValues")
            values = datum.get("Values") or ([datum["Value"]] if "Value" in datum else [])
            self._metrics.put(
                ctx.region, namespace, datum["MetricName"], _dims(datum.get("Dimensions")), moment,
                values=values, counts=datum.get("Counts"), unit=datum.get("Unit"),
                statistic_set=(statistic["SampleCount"], statistic["Sum"], statistic["Minimum"], statistic["Maximum"])
                if statistic else None,
                high_resolution=datum.get("StorageResolution") == 1)

    @staticmethod
    def _check_datum(datum: dict[str, Any], index: int, now: float) -> None:
        where = f"MetricData.member.{index}"
        given = [name for name in ("Value", "StatisticValues", "Values") if name in datum]
        if len(given) > 1:
            raise InvalidParameterCombinationException(
                f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually exclusive and you have "
                "specified both.")
        if not given:
            raise MissingRequiredParameterException(
                f"The parameter {where}.Value or {where}.StatisticValues or {where}.Values is required.")
        if datum.get("Counts") is not None and len(datum["Counts"]) != len(datum.get("Values") or []):
            raise InvalidParameterValueException(
                f"The parameters {where}.Values and {where}.Counts must be of the same size.")
        if datum.get("Timestamp"):
            moment = _seconds(datum["Timestamp"])
            if moment < now - 14 * 86400 or moment > now + 2 * 3600:
                raise InvalidParameterValueException(
                    f"The parameter {where}.Timestamp must specify a time no more than two weeks in the past "
                    "and no more than two hours in the future.")

    async def get_metric_statistics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        statistics = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if not statistics and not extended:
            raise MissingRequiredParameterException("The parameter Statistics or ExtendedStatistics must be specified.")
        if statistics and extended:
            raise InvalidParameterCombinationException(
                "The parameters Statistics and ExtendedStatistics are mutually exclusive and you have specified both.")
        period = int(params["Period"])
        _check_period(period)
        start, end = _seconds(params["StartTime"]), _seconds(params["EndTime"])
        if end <= start:
            raise InvalidParameterValueException("The parameter StartTime must be less than the parameter EndTime.")
        if (end - start) / period > MAX_DATAPOINTS:
            points = int((end - start) // period)
            raise InvalidParameterCombinationException(
                f"You have requested up to {points:,} datapoints, which exceeds the limit of 1,440. You may reduce "
                "the datapoints requested by increasing Period, or decreasing the time range.")
        self._telemetry.process()
        dims = _dims(params.get("Dimensions"))
        name, namespace = params["MetricName"], params["Namespace"]
        unit = self._metrics.unit(ctx.region, namespace, name, dims)
        datapoints = []
        for moment, stats in self._metrics.buckets(ctx.region, namespace, name, dims, start, end, period,
                                                   params.get("Unit")):
            point: dict[str, Any] = {"Timestamp": datetime.datetime.fromtimestamp(moment, _UTC), "Unit": unit}
            for statistic in statistics:
                point[statistic] = _value(stats, statistic)
            if extended:
                found = {stat: _value(stats, stat) for stat in extended}
                point["ExtendedStatistics"] = {k: v for k, v in found.items() if v is not None}
            datapoints.append(point)
        return {"Label": name, "Datapoints": datapoints}

    async def get_metric_data(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        start, end = _seconds(params["StartTime"]), _seconds(params["EndTime"])
        if end <= start:
            raise InvalidParameterValueException("The parameter StartTime must be less than the parameter EndTime.")
        self._telemetry.process()
        descending = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
        budget = int(params.get("MaxDatapoints") or 100_800)
        results = []
        for query in params["MetricDataQueries"]:
            if query.get("Expression"):
                raise InvalidParameterValueException(
                    f"Metric math (the Expression of query {query['Id']}) is not supported by Lamina.")
            stat = query.get("MetricStat")
            if stat is None:
                raise MissingRequiredParameterException(
                    f"The parameter MetricStat or Expression of query {query['Id']} must be specified.")
            metric = stat["Metric"]
            period = int(stat["Period"])
            _check_period(period)
            points = [(moment, _value(stats, stat["Stat"])) for moment, stats in self._metrics.buckets(
                ctx.region, metric["Namespace"], metric["MetricName"], _dims(metric.get("Dimensions")), start, end,
                period, stat.get("Unit"))]
            present = [(moment, value) for moment, value in points if value is not None]
            if descending:
                present.reverse()
            present = present[:budget]
            budget -= len(present)
            if query.get("ReturnData", True):
                results.append({"Id": query["Id"], "Label": query.get("Label") or metric["MetricName"],
                                "Timestamps": [datetime.datetime.fromtimestamp(m, _UTC) for m, _ in present],
                                "Values": [v for _, v in present], "StatusCode": "Complete"})
        return {"MetricDataResults": results, "Messages": []}

    async def list_metrics(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self._telemetry.process()
        filters = [(item["Name"], item.get("Value")) for item in params.get("Dimensions") or ()]
        active = self._clock.time() - 3 * 3600 if params.get("RecentlyActive") == "PT3H" else None
        found = self._metrics.list(ctx.region, params.get("Namespace"), params.get("MetricName"), filters, active)
        offset = 0
        if params.get("NextToken"):
            try:
                offset = int(base64.urlsafe_b64decode(params["NextToken"].encode()).decode())
            except (ValueError, binascii.Error, UnicodeDecodeError):
                raise InvalidNextToken("The service couldn't process your request because the NextToken was "
                                       "invalid.") from None
        page = found[offset:offset + LIST_PAGE]
        answer: dict[str, Any] = {"Metrics": [
            {"Namespace": namespace, "MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims]}
            for namespace, name, dims in page]}
        if offset + LIST_PAGE < len(found):
            answer["NextToken"] = base64.urlsafe_b64encode(str(offset + LIST_PAGE).encode()).decode()
        return answer
