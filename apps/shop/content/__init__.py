"""The content hub: a headless CMS compatible with Strapi v5 (REST, GraphQL, webhooks), run as a Baton service."""
