"""Vendor-fidelity suite: behaviours where production Salesforce and HubSpot are stricter than a kind emulator."""
