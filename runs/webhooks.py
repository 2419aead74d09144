"""Webhooks: LangGraph POSTs the run to ``webhook`` when it ends.

The target is checked again here, at send time (``runs.webhook_targets``; docs/webhooks.md):
the name is resolved once, every address it resolves to is checked, and the request connects to
one of those checked addresses (the URL's host replaced by the address, the original ``Host``
header and TLS server name kept), so a name that resolves somewhere else between the check and
the connection (DNS rebinding) cannot redirect the POST. Redirects are not followed, proxies from
the environment are not used (the peer would be the proxy), the whole exchange has a deadline
and the response body is never read.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
from django.conf import settings

from duragraph_site import langgraph_config, serde
from duragraph_site.errors import NotFound
from runs import projection, selectors, webhook_targets
from runs.api.serializers import RunSerializer

logger = logging.getLogger(__name__)

#: httpx's timeout of each phase: connecting (to each address tried), each write, each read.
TIMEOUT_SECONDS = 10.0
#: The whole exchange, every address tried included: a peer that answers one byte at a time
#: cannot hold the task longer than this.
DEADLINE_SECONDS = 20.0


def payload(run_id: uuid.UUID) -> dict:
    """The run as the API shows it, plus its result (``values``, or ``__error__``).

    Built from the event log, not the read model: a stateless run's row is gone by the time
    the webhook fires.
    """
    run = projection.PROJECTION.rebuild(run_id)
    if run is None:
        raise NotFound(f"Run {run_id} not found")
    body = dict(RunSerializer(run).data)
    body["values"] = selectors.run_result(run.run_id, run.thread_id)
    return serde.to_jsonable(body)


def deliver(run_id: str, url: str) -> int | None:
    """POST once to a checked address of *url*; returns the status, None when refused.

    A target ``runs.webhook_targets.check`` refuses is not called, and logged (no retry: the
    answer would be the same); nor is any while ``langgraph.json``'s ``http.disable_webhooks``
    is on. Must not be called from a running event loop.

    Raises:
        httpx.TransportError: the name does not resolve, no address connects, or a timeout
            (the task retries).
        httpx.HTTPStatusError: a 5xx answer (the task retries).
    """
    if langgraph_config.webhooks_disabled():
        logger.info("Webhook of run %s not called: langgraph.json disables webhooks", run_id)
        return None
    try:
        target = webhook_targets.parse(url)
        addresses = _resolve(target)
        webhook_targets.check(target, addresses, allowed_hosts=settings.WEBHOOK_ALLOWED_HOSTS)
    except webhook_targets.WebhookRefused as refused:
        logger.warning("Webhook of run %s not called: %s", run_id, refused.message)
        return None
    content = serde.dumps(payload(uuid.UUID(run_id)))
    return asyncio.run(_post(httpx.URL(url), target, addresses, content))


def _resolve(target: webhook_targets.Target) -> tuple[webhook_targets.IPAddress, ...]:
    try:
        addresses = webhook_targets.resolve(target)
    except OSError as error:
        raise httpx.ConnectError(
            f"webhook host {target.host!r} does not resolve: {error}"
        ) from None
    if not addresses:
        raise httpx.ConnectError(f"webhook host {target.host!r} resolves to no address")
    return addresses


async def _post(
    url: httpx.URL,
    target: webhook_targets.Target,
    addresses: tuple[webhook_targets.IPAddress, ...],
    content: bytes,
) -> int:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"duragraph/{settings.SPECTACULAR_SETTINGS['VERSION']}",
        "Host": url.netloc.decode("ascii"),
    }
    try:
        async with (
            asyncio.timeout(DEADLINE_SECONDS),
            httpx.AsyncClient(
                timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
            ) as client,
        ):
            last_error: httpx.ConnectError | None = None
            # getaddrinfo's order; the next address only when one does not connect.
            for address in addresses:
                request = client.build_request(
                    "POST",
                    url.copy_with(host=str(address)),
                    content=content,
                    headers=headers,
                    # TLS: the certificate is verified for the name, not the address.
                    extensions={"sni_hostname": target.host},
                )
                try:
                    response = await client.send(request, stream=True)
                except httpx.ConnectError as error:
                    last_error = error
                    continue
                # Closed unread: the answer's status is all a webhook needs, and its body
                # could be any size.
                await response.aclose()
                if response.status_code >= 500:
                    response.raise_for_status()
                return response.status_code
    except TimeoutError:
        raise httpx.TimeoutException(
            f"webhook {target.host!r}: no answer within {DEADLINE_SECONDS} s"
        ) from None
    assert last_error is not None  # addresses is never empty (_resolve)
    raise last_error
