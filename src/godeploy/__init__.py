"""godeploy: the asyncio SDK for the go deploy Order API."""
