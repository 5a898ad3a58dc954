"""The Textual control room: App, screens and feeds. Import `controlroom.app.entry` lazily from the CLI."""
