"""Background work after a checkout, as a shop sends its confirmation e-mails."""
import time

from celery import shared_task
from django.conf import settings

from .models import Order


@shared_task
def send_order_email(order_id):
    """Stands in for sending the e-mail (ORDER_EMAIL_DELAY seconds), then records it was sent."""
    time.sleep(settings.ORDER_EMAIL_DELAY)
    Order.objects.filter(pk=order_id).update(emailed=True)
