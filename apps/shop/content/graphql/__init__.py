"""GraphQL over the content types (strawberry), with the REST API's filters and Strapi's schema shape."""
