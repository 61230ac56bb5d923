"""The page's tabs, one module each: its layout with its events wired beside the components, and its
handlers, plain methods returning {component: value} that tests call directly."""
