"""``baton demo``: drive the shop through a scripted scenario and show what happened.

Browse the catalog ▸ sign up and log in ▸ fill a cart ▸ check out (confirmed) ▸ check out with a declined card
(cancelled, nothing charged) ▸ a member of staff changes a price, and it reaches the order service's read model ▸
the e-mails the customer received, read back from the mail sink.

It talks to the running system the way a client would: through the gateway when the system has one, else
straight to the instances the control plane lists (``GET /v1/instances``). The shop's HTTP client lives with
the shop (``apps/shop/common/shopper.py``) and is imported from beside the manifest, as the control plane
imports the services. Exit status 1 when a step failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import typer
import yaml
from rich.panel import Panel
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from baton.cli.render import DEFAULT_MANIFEST, JsonOption, ManifestOption, command, console, err_console, print_json
from baton.cli.target import Target
from baton.control.launch import import_root
from baton.errors import BatonError, ControlError

SHOPPER_MODULE = "apps.shop.common.shopper"
DEMO_EMAIL_DOMAIN = "demo.shop.local"
DEMO_PASSWORD = "demo-password"  # a throwaway account per run
DEMO_STAFF_EMAIL = "staff@shop.local"
"""The staff account of the shop's manifest (``IDENTITY_STAFF_EMAILS``); the demo signs it up on first use."""
DEMO_STAFF_PASSWORD = "demo-staff-password"  # the local demo system's staff


@dataclass
class Step:
    """One step of the scenario and what came of it."""

    title: str
    ok: bool | None = None
    """``None`` until it ran (and for steps skipped after a failure)."""
    summary: str = ""
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    """The shared state of one demo run."""

    shopper: Any
    customer: str
    email: str
    timeout: float
    data: dict[str, Any] = field(default_factory=dict)


StepFn = Callable[[Scenario], Awaitable[tuple[str, dict[str, Any]]]]


def _money(cents: int, currency: str = "EUR") -> str:
    return f"{cents / 100:.2f} {currency}"


async def browse(s: Scenario) -> tuple[str, dict[str, Any]]:
    """The catalog, in both API versions."""
    v1 = await s.shopper.products(limit=5)
    v2 = await s.shopper.products(limit=1, version="v2")
    if not v1:
        raise ControlError("the catalog is empty")
    s.data["products"] = {p["id"]: p for p in v1}
    names = ", ".join(f"{p['name']} ({_money(p['price_cents'], p['currency'])})" for p in v1[:3])
    return f"{len(v1)} products, e.g. {names}; v2 shape: price {v2[0]['price']}", {"products": v1, "v2": v2[:1]}


async def sign_up(s: Scenario) -> tuple[str, dict[str, Any]]:
    """A customer account and a login: every later call carries its access token."""
    user = await s.shopper.sign_up(s.email, DEMO_PASSWORD, name="Demo Customer")
    await s.shopper.log_in(s.email, DEMO_PASSWORD)
    s.customer = str(user["id"])
    claims = jwt.decode(s.shopper.access_token, options={"verify_signature": False})  # only to show them
    summary = (
        f"{s.email} signed up, logged in: access token {claims['exp'] - claims['iat']}s "
        f"(scopes {claims.get('scope', '')}), refresh token rotating"
    )
    return summary, {"user": user, "roles": claims.get("roles"), "scope": claims.get("scope")}


async def fill_cart(s: Scenario) -> tuple[str, dict[str, Any]]:
    """A cart with two products."""
    first, second = list(s.data["products"])[:2]
    cart = await s.shopper.open_cart()
    await s.shopper.add_item(cart, first, 2)
    filled = await s.shopper.add_item(cart, second, 1)
    s.data["cart"] = cart
    lines = ", ".join(f"{i['quantity']} x {i['product_id']}" for i in filled["items"])
    return f"cart {cart[:8]}: {lines}", {"cart": filled}


async def checkout_confirmed(s: Scenario) -> tuple[str, dict[str, Any]]:
    """Check out with a good card; with a simulated failure rate, a declined try is repeated with a new cart."""
    tries = []
    for _ in range(5):
        cart = s.data.pop("cart", None) or await _refill(s)
        order_id = await s.shopper.checkout(cart, email=s.email, card_token="tok_visa")
        order = await s.shopper.wait_final(order_id, timeout=s.timeout)
        tries.append(order)
        s.data["orders_final"] += 1  # each finished order owes the customer one e-mail
        if order["status"] == "CONFIRMED":
            again = f" (after {len(tries) - 1} simulated decline(s))" if len(tries) > 1 else ""
            return f"order {order_id[:8]} CONFIRMED, {_money(order['total_cents'])} captured{again}", {"order": order}
    raise ControlError(f"no checkout was confirmed in {len(tries)} tries: last reason {tries[-1]['reason']!r}")


async def _refill(s: Scenario) -> str:
    product = next(iter(s.data["products"]))
    cart: str = await s.shopper.open_cart()
    await s.shopper.add_item(cart, product, 1)
    return cart


async def checkout_declined(s: Scenario) -> tuple[str, dict[str, Any]]:
    """Check out with ``tok_decline``: the saga compensates and the order is cancelled."""
    cart = await _refill(s)
    order_id = await s.shopper.checkout(cart, email=s.email, card_token="tok_decline")
    order = await s.shopper.wait_final(order_id, timeout=s.timeout)
    s.data["orders_final"] += 1
    if order["status"] != "CANCELLED":
        raise ControlError(f"a declined card ended {order['status']}, not CANCELLED")
    return f"order {order_id[:8]} CANCELLED: {order['reason']}", {"order": order}


async def change_price(s: Scenario) -> tuple[str, dict[str, Any]]:
    """Staff (a user whose e-mail identity lists as staff) raise a price; the catalog's event updates the order
    service's read model. The customer's token would get 403 here."""
    product = list(s.data["products"])[-1]
    before = await s.shopper.price(product)
    staff = await s.shopper.fork().register(DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD, name="Demo Staff")
    changed = await staff.set_price(product, before["price_cents"] + 100)
    started = time.monotonic()

    async def updated() -> dict[str, Any] | None:
        price: dict[str, Any] = await s.shopper.price(product)
        return price if price["version"] >= changed["version"] else None

    price = await s.shopper.eventually(updated, timeout=s.timeout)
    took = time.monotonic() - started
    summary = (
        f"{product}: {_money(before['price_cents'])} -> {_money(price['price_cents'])}, "
        f"in order's read model after {took * 1000:.0f} ms (v{price['version']})"
    )
    return summary, {"before": before, "after": price}


async def read_mail(s: Scenario) -> tuple[str, dict[str, Any]]:
    """The e-mails the mail sink received for the demo customer (one per finished order), read by staff: the
    sink's list holds every customer's address."""
    wanted = s.data["orders_final"]
    staff = await s.shopper.fork().register(DEMO_STAFF_EMAIL, DEMO_STAFF_PASSWORD, name="Demo Staff")

    async def arrived() -> list[dict[str, Any]] | None:
        mails: list[dict[str, Any]] = await staff.messages(to=s.email)
        return mails if len(mails) >= wanted else None

    mails = await s.shopper.eventually(arrived, timeout=s.timeout, interval=0.2)
    return f"{len(mails)} e-mail(s) to {s.email}", {"messages": mails}


STEPS: list[tuple[str, StepFn]] = [
    ("Browse the catalog", browse),
    ("Sign up and log in", sign_up),
    ("Fill a cart", fill_cart),
    ("Check out (card accepted)", checkout_confirmed),
    ("Check out (card declined)", checkout_declined),
    ("Change a price (staff)", change_price),
    ("Read the e-mails", read_mail),
]


def _shopper_class(manifest: Path) -> Any:
    """The shop's client class, imported from where the manifest's services import from."""
    folders = [manifest.resolve().parent]
    with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):
        services = (yaml.safe_load(manifest.read_text()) or {}).get("services") or {}
        folders += [
            (manifest.resolve().parent / spec["cwd"]).resolve() for spec in services.values() if spec.get("cwd")
        ]
    folders.append(Path.cwd())
    for folder in folders:
        root = import_root(SHOPPER_MODULE, folder)
        if root is not None:
            if str(root) not in sys.path:
                sys.path.insert(0, str(root))
            break
    try:
        return importlib.import_module(SHOPPER_MODULE).Shopper
    except ImportError as exc:
        raise ControlError(f"baton demo drives the shop and cannot import {SHOPPER_MODULE}: {exc}") from exc


def _addresses(target: Target) -> tuple[str | None, dict[str, str]]:
    """The gateway's URL (if it is ready) and one ready instance URL per service."""
    client = target.client()
    try:
        system = client.get("/v1/system")
        instances = client.get("/v1/instances")
    finally:
        client.close()
    ready = {v["service"]: str(v["url"]) for v in instances if v["ready"]}
    gateway = system.get("urls", {}).get("gateway") if "gateway" in ready else None
    return gateway, ready


def _instance_client(target: Target) -> httpx.AsyncClient:
    """A client that reaches instances too: they serve mutual TLS, so it holds an ``operator`` certificate and
    adds service tokens (the gateway stays plain HTTP)."""
    info, token = target.daemon(), target.home.admin_token()
    if info is None or token is None:
        return httpx.AsyncClient()
    from baton.security.operator import OperatorAccess

    return OperatorAccess.for_control(info.url, token).async_client()


async def _run(manifest: Path, *, timeout: float, on_step: Callable[[Step], None]) -> tuple[list[Step], str]:
    target = Target.of(manifest)
    gateway, services = _addresses(target)
    shopper_class = _shopper_class(manifest)
    steps = [Step(title) for title, _ in STEPS]
    async with _instance_client(target) as http:
        if gateway is not None:
            shopper, via = shopper_class(http, gateway=gateway, retry_for=timeout), f"the gateway ({gateway})"
        else:
            shopper, via = shopper_class(http, services=services, retry_for=timeout), "the services directly"
        run = uuid.uuid4().hex[:6]
        scenario = Scenario(
            shopper=shopper, customer=f"demo-{run}", email=f"demo-{run}@{DEMO_EMAIL_DOMAIN}", timeout=timeout
        )
        scenario.data["orders_final"] = 0
        for step, (_, fn) in zip(steps, STEPS, strict=True):
            started = time.monotonic()
            try:
                step.summary, step.data = await fn(scenario)
                step.ok = True
            except (BatonError, TimeoutError, httpx.HTTPError, KeyError, ValueError) as exc:
                step.ok, step.summary = False, _reason(exc)
            step.seconds = time.monotonic() - started
            on_step(step)
            if not step.ok:
                break
    return steps, via


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _render(steps: list[Step], via: str) -> None:
    table = Table(title=f"Shop demo, through {via}", show_lines=False, expand=True)
    table.add_column("", width=2)
    table.add_column("step", no_wrap=True)
    table.add_column("what happened")
    table.add_column("time", justify="right", no_wrap=True)
    for step in steps:
        mark = {True: "[green]✓[/]", False: "[bold red]✗[/]", None: "[dim]-[/]"}[step.ok]
        summary = step.summary if step.ok is not None else "[dim]not run[/]"
        table.add_row(mark, step.title, summary, f"{step.seconds:.1f}s" if step.ok is not None else "")
    console.print(table)
    mails = next((s.data.get("messages") for s in steps if s.data.get("messages")), None)
    if mails:
        inbox = Table(title="E-mails received by the mail sink", expand=True)
        inbox.add_column("to")
        inbox.add_column("subject")
        for mail in mails:
            inbox.add_row(", ".join(mail["to"]), mail["subject"])
        console.print(inbox)
        console.print(Panel(mails[-1]["body"].strip(), title=mails[-1]["subject"], expand=False))


@command
def demo(
    file: ManifestOption = DEFAULT_MANIFEST,
    timeout: Annotated[float, typer.Option(help="Seconds each step may take.")] = 30.0,
    json: JsonOption = False,
) -> None:
    """Drive the running shop through a scripted scenario (browse, cart, checkouts, a price change, e-mails)."""
    if json:
        steps, via = asyncio.run(_run(file, timeout=timeout, on_step=lambda step: None))
        print_json({"via": via, "ok": all(s.ok for s in steps), "steps": [asdict(s) for s in steps]})
    else:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err_console, transient=True) as progress:
            task = progress.add_task("Shop demo", total=len(STEPS))

            def advance(step: Step) -> None:
                progress.update(task, advance=1, description=f"{'✓' if step.ok else '✗'} {step.title}")

            steps, via = asyncio.run(_run(file, timeout=timeout, on_step=advance))
        _render(steps, via)
    if not all(s.ok for s in steps):
        raise typer.Exit(1)
