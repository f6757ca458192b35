"""Checks of the Salesforce metadata in `sf/`, callable on any copy of that directory."""
