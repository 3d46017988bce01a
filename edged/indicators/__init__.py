"""Status LEDs, buzzer and push button for clinic staff (docs/leds.md)."""
