# system checks: written next
