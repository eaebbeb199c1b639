"""The demo content planted at first start (``CONTENT_SEED=true``), with fixed ``documentId``s.

- product blurbs for the catalog's demo products (``productId`` = the catalog id, ``p-espresso``): English for
  every product, French for four of them — the others show the locale fallback of the content client;
- the notification e-mail templates ``order-confirmed`` and ``order-cancelled`` (en, fr), with the
  ``${placeholders}`` the notification service fills;
- an author and an article linked to her.

Each document is created in its own transaction with a fixed id, so a second replica starting at the same
moment, or a restart, finds it and skips it.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from apps.shop.catalog.seed import PRODUCTS
from apps.shop.content import store
from apps.shop.content.documents import Documents
from apps.shop.content.schema import Registry

if TYPE_CHECKING:
    from baton.kit import Service

__all__ = ["BLURBS_FR", "EMAIL_TEMPLATES", "seed_content", "seed_id"]

BLURBS_FR: dict[str, tuple[str, str]] = {
    "p-espresso": ("Torréfaction espresso", "Une torréfaction sombre aux notes de cacao, pour un espresso corsé."),
    "p-house-blend": ("Mélange maison", "Une torréfaction moyenne, ronde et équilibrée, pour tous les jours."),
    "p-moka-pot": ("Cafetière italienne", "Six tasses d'un café intense, sur le feu, comme à la maison."),
    "p-grinder": ("Moulin à meules", "Quarante réglages, de l'espresso à la cafetière à piston."),
}

EMAIL_TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "order-confirmed": {
        "en": (
            "Your order ${order_ref} is confirmed",
            "Hello,\n\nthank you for your order ${order_ref}. We have received your payment and your items are on "
            "their way.\n\n${lines}\n\nTotal: ${total}\n\nThe Baton shop\n",
        ),
        "fr": (
            "Votre commande ${order_ref} est confirmée",
            "Bonjour,\n\nmerci pour votre commande ${order_ref}. Nous avons reçu votre paiement et vos articles "
            "sont en route.\n\n${lines}\n\nTotal : ${total}\n\nLa boutique Baton\n",
        ),
    },
    "order-cancelled": {
        "en": (
            "Your order ${order_ref} was cancelled",
            "Hello,\n\nwe are sorry: your order ${order_ref} was cancelled (${reason}).\n${refund_note}\n"
            "Total of the order: ${total}\n\nThe Baton shop\n",
        ),
        "fr": (
            "Votre commande ${order_ref} a été annulée",
            "Bonjour,\n\nnous sommes désolés : votre commande ${order_ref} a été annulée (${reason}).\n"
            "${refund_note}\nTotal de la commande : ${total}\n\nLa boutique Baton\n",
        ),
    },
}


def seed_id(key: str) -> str:
    """The fixed ``documentId`` of a seed document (24 characters, like Strapi's)."""
    return hashlib.sha256(f"baton-content-seed:{key}".encode()).hexdigest()[:24]


def _documents() -> list[tuple[str, str, list[tuple[str, dict[str, Any]]]]]:
    """``(api id, seed key, [(locale, data), ...])`` in creation order (authors before the articles linking them)."""
    docs: list[tuple[str, str, list[tuple[str, dict[str, Any]]]]] = []
    for product in PRODUCTS:
        versions = [("en", {"productId": product.id, "headline": product.name, "blurb": product.description})]
        if product.id in BLURBS_FR:
            headline, blurb = BLURBS_FR[product.id]
            versions.append(("fr", {"headline": headline, "blurb": blurb}))
        docs.append(("product-blurbs", f"blurb:{product.id}", versions))
    for name, locales in EMAIL_TEMPLATES.items():
        versions = [(loc, {"name": name, "subject": s, "body": b}) for loc, (s, b) in locales.items()]
        docs.append(("email-templates", f"template:{name}", versions))
    docs.append(
        (
            "authors",
            "author:ada",
            [("", {"name": "Ada Barista", "bio": "Roaster and writer.", "email": "ada@shop.local"})],
        )
    )
    article = {
        "title": "How to dial in an espresso",
        "summary": "Grind, dose, time: the three knobs of a good shot.",
        "body": "Start with 18 g in, 36 g out, in 28 seconds.",
        "readingMinutes": 6,
        "rating": 4.5,
        "featured": True,
        "publishedOn": "2026-01-15T09:00:00Z",
        "category": "guide",
        "tags": ["espresso", "grinder"],
        "author": seed_id("author:ada"),
        "seo": {"metaTitle": "Dial in an espresso", "metaDescription": "A short guide."},
    }
    docs.append(("articles", "article:dial-in", [("en", article)]))
    return docs


async def seed_content(service: Service, documents: Documents, registry: Registry) -> int:
    """Create the demo documents that do not exist yet; how many were created."""
    created = 0
    for api_id, key, versions in _documents():
        ctype = registry.by_api_id(api_id)
        if ctype is None:
            continue  # a deployment that dropped the type from its schemas
        document_id = seed_id(key)
        try:
            async with service.transaction() as session:
                if await store.count_versions(session, ctype.uid, [document_id]):
                    continue
                first_locale, first = versions[0]
                await documents.create(
                    session, ctype, first, locale=first_locale, status="published", document_id=document_id
                )
                for locale, data in versions[1:]:
                    await documents.update(session, ctype, document_id, data, locale=locale, status="published")
            created += 1
        except IntegrityError:
            continue  # another replica seeded it at the same moment
    return created
